"""Data-parallel training of the hnfnet models with the paper's recipe (the defaults of
`hnfnet train`, src/hnfnet/train-config.ts), over any number of GPUs or nodes:

    torchrun --nproc_per_node=8 -m hnfnet_torch.train --data DIR --out RUN --model hnfnetv2 --fold 0

(run from python/, or with python/ on PYTHONPATH). One process per device; NCCL on GPUs,
gloo on CPUs. The global batch (--batch) is split evenly over the ranks; every rank draws
the same global batch from the same seed and takes its slice, so N ranks train like one
process with the whole batch. RUN/last.safetensors is an hnfnet weights file
(hnfnet_config, hnfnet_preset metadata): `hnfnet infer --weights RUN/last.safetensors` loads it.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from .config import parse_config, PRESET_NAMES
from .data import DEFAULT_AUGMENT, find_cases, folds_from_split_file, kfold_assignment, preprocess, sample_patch, write_split_file
from .loss import segmentation_loss
from .model import build_model
from .weights import weights_metadata
from .safetensors_io import save_file


def learning_rate(step, base_lr, epochs, warmup_epochs, power, steps_per_epoch, per_step=True):
    """schedule.ts: lr · min(1, (t + u)/warmup) · max(0, 1 − t/epochs)^power."""
    t = step / steps_per_epoch if per_step else step // steps_per_epoch
    warm = 1.0 if warmup_epochs <= 0 else min(1.0, (t + (1 / steps_per_epoch if per_step else 1)) / warmup_epochs)
    return base_lr * warm * max(0.0, 1 - t / epochs) ** power


def make_optimizer(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-5):
    # torch Adam with L2 weight decay: what src/kernels/adam.ts implements (not AdamW).
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def train_step(model, opt, x, target, lr, loss_cfg=None):
    """One optimizer step on this rank's slice; DDP averages the gradients over ranks, which
    (equal slices; both loss terms are means over samples) is the whole batch's gradient."""
    for g in opt.param_groups:
        g['lr'] = lr
    opt.zero_grad(set_to_none=True)
    loss, dice, bce = segmentation_loss(model(x), target, **(loss_cfg or {}))
    loss.backward()
    opt.step()
    return loss.detach(), dice.detach(), bce.detach()


def setup_distributed():
    """(rank, world, device); initialises the process group when launched by torchrun."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    if torch.cuda.is_available():
        device = torch.device('cuda', local)
        torch.cuda.set_device(device)
    else:
        device = torch.device('cpu')
    if world > 1 and not dist.is_initialized():
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world, device


def wrap(model, device):
    if dist.is_initialized() and dist.get_world_size() > 1:
        # Buffers (the EM bases) are kept in step by EMAUnit's own all-reduce, so no broadcast.
        return DDP(model, device_ids=[device.index] if device.type == 'cuda' else None, broadcast_buffers=False)
    return model


def _atomic_write(path, write):
    tmp = path + '.tmp'
    write(tmp)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True, help='folder of BraTS case folders')
    ap.add_argument('--out', required=True, help='run folder')
    ap.add_argument('--model', default='hnfnetv2', help=f'preset ({", ".join(PRESET_NAMES)}) or a model-config JSON file')
    ap.add_argument('--fold', type=int, default=None, help='held-out fold (default: train on all)')
    ap.add_argument('--folds', type=int, default=5)
    ap.add_argument('--split-file', default=None, help='MONAI-style split file (as `hnfnet train` reads)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--epochs', type=int, default=250)
    ap.add_argument('--steps-per-epoch', type=int, default=None)
    ap.add_argument('--batch', type=int, default=4, help='global batch (split over ranks)')
    ap.add_argument('--patch', type=int, nargs='+', default=[128], help='side, or x y z')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--weight-decay', type=float, default=1e-5)
    ap.add_argument('--warmup-epochs', type=float, default=5)
    ap.add_argument('--power', type=float, default=0.9)
    ap.add_argument('--foreground-prob', type=float, default=1 / 3)
    ap.add_argument('--no-augment', action='store_true')
    ap.add_argument('--amp', action='store_true', help='bfloat16 autocast on GPUs (not in the TS recipe)')
    a = ap.parse_args(argv)

    rank, world, device = setup_distributed()
    if a.batch % world:
        raise SystemExit(f'--batch {a.batch} must be a multiple of the {world} ranks')
    patch = a.patch * 3 if len(a.patch) == 1 else a.patch
    spec = a.model
    if os.path.isfile(spec):
        with open(spec) as f:
            spec = json.load(f)
    config = parse_config(spec)
    preset = a.model if isinstance(a.model, str) and a.model in PRESET_NAMES else 'custom'

    cases = find_cases(a.data)
    cases = {k: v for k, v in cases.items() if v['seg']}
    if not cases:
        raise SystemExit(f'{a.data}: no BraTS cases with segmentations found')
    folds = folds_from_split_file(a.split_file, cases) if a.split_file else kfold_assignment(list(cases), a.folds, a.seed)
    ids = list(cases)
    train_ids = [cid for cid, f in zip(ids, folds) if a.fold is None or f != a.fold]
    os.makedirs(a.out, exist_ok=True)
    if rank == 0:
        write_split_file(os.path.join(a.out, 'splits.json'), cases, folds)
    # Preprocessed cases stay in memory: a BraTS case is ~30 MB after brain cropping.
    data = {cid: preprocess(cases[cid]) for cid in train_ids}

    torch.manual_seed(a.seed)
    model = build_model(config).to(device).train()
    ddp = wrap(model, device)
    opt = make_optimizer(model, a.lr, weight_decay=a.weight_decay)
    steps_per_epoch = a.steps_per_epoch or math.ceil(len(train_ids) / a.batch)
    local = a.batch // world
    step = 0
    for epoch in range(a.epochs):
        order = np.random.default_rng([a.seed, epoch]).permutation(len(train_ids))
        t0 = time.time()
        for s in range(steps_per_epoch):
            xs, ts = [], []
            for j in range(rank * local, (rank + 1) * local):
                cid = train_ids[order[(s * a.batch + j) % len(order)]]
                # One generator per global sample: the patch does not depend on the rank count.
                rng = np.random.default_rng([a.seed, step, j])
                x, t = sample_patch(*data[cid], patch, rng, a.foreground_prob, None if a.no_augment else DEFAULT_AUGMENT)
                xs.append(x)
                ts.append(t)
            x, t = torch.stack(xs).to(device), torch.stack(ts).to(device)
            lr = learning_rate(step, a.lr, a.epochs, a.warmup_epochs, a.power, steps_per_epoch)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.amp and device.type == 'cuda'):
                loss, dice, bce = train_step(ddp, opt, x, t, lr)
            step += 1
        if rank == 0:
            print(json.dumps({'epoch': epoch + 1, 'step': step, 'loss': float(loss), 'dice': float(dice), 'bce': float(bce), 'lr': lr, 'seconds': time.time() - t0}), flush=True)
            md = {**weights_metadata(config, preset), 'hnfnet_kind': 'last', 'hnfnet_step': str(step), 'hnfnet_epoch': str(epoch + 1)}
            sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
            _atomic_write(os.path.join(a.out, 'last.safetensors'), lambda p: save_file(p, sd, md))
            _atomic_write(os.path.join(a.out, 'last.train.pt'), lambda p: torch.save({'optimizer': opt.state_dict(), 'step': step, 'epoch': epoch + 1, 'args': vars(a)}, p))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
