"""Data-parallel training of the hnfnet models with the paper's recipe (the defaults of
`hnfnet train`, src/train/config.ts), over any number of GPUs or nodes:

    torchrun --nproc_per_node=8 -m hnfnet_torch.train --data DIR --out RUN --model hnfnetv2 --fold 0
    torchrun --nproc_per_node=8 -m hnfnet_torch.train --out RUN --resume

(run from python/, or with python/ on PYTHONPATH). One process per device; NCCL on GPUs,
gloo on CPUs. The global batch (--batch) is split evenly over the ranks; every rank draws
the same global batch from the same seed and takes its slice, so N ranks train like one
process with the whole batch.

Cases are preprocessed once into RUN/preprocessed (or --cache, shared between runs) and
memory-mapped by every rank; --workers loader processes cut each step's patches ahead of it.

RUN holds what `hnfnet train` writes, in the same formats where both sides read them:
log.jsonl (`hnfnet plot RUN` draws it), last.safetensors and best.safetensors (hnfnet weights
files: `hnfnet infer --model RUN/best.safetensors` loads them) and splits.json (the folds, for
`hnfnet train --split`). The optimizer and run state is last.train.pt (PyTorch's own format).
"""
import argparse
import contextlib
import gc
import json
import math
import os
import secrets
import sys
import time
import traceback

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from .config import parse_config, size_multiple, PRESET_NAMES
from . import case_cache
from .batches import StepBatches, loader
from .bundle import Bundle
from .data import DEFAULT_AUGMENT, find_cases, folds_from_split_file, kfold_assignment, write_split_file
from .checkpoint import BEST, LAST, STATE_FORMAT, CheckpointError, read_last, write_last, write_weights
from .loss import segmentation_loss
from .recipe import read_recipe
from .model import EMAUnit, build_model, set_activation_checkpointing
from .run_log import LOG, RunLog, now
from .validate import validate
from .safetensors_io import load_file
from .weights import weights_config, weights_metadata

DEFAULTS = {
    'data': None, 'out': None, 'model': 'hnfnetv2', 'fold': None, 'folds': 5, 'split_file': None, 'seed': 0,
    'epochs': 250, 'steps_per_epoch': None, 'batch': 4, 'accumulate': 1, 'activation_checkpointing': 'none', 'patch': [128, 128, 128],
    'lr': 1e-3, 'weight_decay': 1e-5, 'warmup_epochs': 5, 'power': 0.9, 'foreground_prob': 1 / 3,
    'no_augment': False, 'amp': False,
    'val_every': 5, 'val_window': None, 'val_overlap': 0.25, 'val_tta': 1, 'val_threshold': 0.5, 'val_max_cases': None,
    'resume': False, 'stop_after': None, 'cache': None, 'workers': None, 'config': None,
    'bundle': None, 'minutes': None, 'then_all_cases': False, 'pretrained': None,
}
# Options of one invocation, not of the run.
SESSION = ('resume', 'stop_after', 'workers', 'config', 'minutes', 'then_all_cases')
# What a resume may change, as RESUME_MUTABLE in src/train/run.node.ts (plus where the data and run
# now live: the case lists are checked instead).
RESUME_MUTABLE = ('data', 'bundle', 'out', 'val_max_cases', 'cache', 'activation_checkpointing') + SESSION
# Where --then-all-cases trains its second run, inside RUN.
ALL_CASES = 'all-cases'


def learning_rate(step, base_lr, epochs, warmup_epochs, power, steps_per_epoch, per_step=True):
    """schedule.ts: lr · min(1, (t + u)/warmup) · max(0, 1 − t/epochs)^power."""
    t = step / steps_per_epoch if per_step else step // steps_per_epoch
    warm = 1.0 if warmup_epochs <= 0 else min(1.0, (t + (1 / steps_per_epoch if per_step else 1)) / warmup_epochs)
    return base_lr * warm * max(0.0, 1 - t / epochs) ** power


def load_pretrained(model, path, config, device):
    """Loads a weights file into `model` strictly, refusing one of another model."""
    tensors, metadata = load_file(path)
    theirs, _ = weights_config(metadata, str(path), None)
    if theirs != config:
        raise ValueError(f'--pretrained {path}: its weights are of another model than this run trains '
                         f'(file: {json.dumps(theirs, sort_keys=True)}; run: {json.dumps(config, sort_keys=True)})')
    model.load_state_dict({k: v.to(device=device, dtype=torch.float32) for k, v in tensors.items()}, strict=True)


def make_optimizer(model, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-5):
    # torch Adam with L2 weight decay: what src/kernels/adam.ts implements (not AdamW).
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def train_step(model, opt, x, target, lr, loss_cfg=None, accumulate=1):
    """One optimizer step on this rank's slice, in `accumulate` equal micro-batches with the loss
    scaled by 1/accumulate (trainer.ts). Both loss terms are means over samples, so the summed
    gradients are the slice's, and DDP's average over equal slices is the whole batch's.
    Returns the (loss, dice, bce) means over the micro-batches."""
    if x.shape[0] % accumulate:
        raise ValueError(f'a slice of {x.shape[0]} samples does not split into {accumulate} equal micro-batches')
    for g in opt.param_groups:
        g['lr'] = lr
    opt.zero_grad(set_to_none=True)
    stats = []
    # The EM bases move once per step, with the whole batch's mean (EMAUnit.defer_base_updates).
    units = [u for u in (model.module if isinstance(model, DDP) else model).modules() if isinstance(u, EMAUnit)] if accumulate > 1 else []
    for u in units:
        u.defer_base_updates()
    try:
        for m, (xm, tm) in enumerate(zip(x.chunk(accumulate), target.chunk(accumulate))):
            # Gradients are reduced over the ranks once, in the last micro-batch's backward.
            skip_sync = isinstance(model, DDP) and m < accumulate - 1
            with model.no_sync() if skip_sync else contextlib.nullcontext():
                loss, dice, bce = segmentation_loss(*native_outputs(model, xm, tm), **(loss_cfg or {}))
                (loss if accumulate == 1 else loss / accumulate).backward()
            stats.append(torch.stack([loss, dice, bce]).detach().float())
        for u in units:
            u.commit_base_updates()
    finally:
        for u in units:
            u.pending = None
    opt.step()
    return tuple(torch.stack(stats).mean(0))


def native_outputs(model, x, target):
    """(logits, target) where the loss is taken. A model with inputStride 2 runs at half
    resolution: its logits are compared there with the regions brought down by the same 2×2×2
    mean (fractions), so no step pays for full-resolution logits and their gradient (2.2×
    cheaper on a CPU at 128³)."""
    core = model.module if isinstance(model, DDP) else model
    if core.config.get('inputStride', 1) == 1:
        return model(x), target
    y = model(x, native=True)
    return y, F.interpolate(target, size=tuple(y.shape[2:]), mode='trilinear', align_corners=False)


def rank_slots(batch, accumulate, world, rank):
    """Positions in the global batch that `rank` trains on, in micro-batch order: its slice of
    each global micro-batch, so that the ranks' micro-batch m together is one process's."""
    micro = batch // accumulate
    local = micro // world
    return [m * micro + rank * local + i for m in range(accumulate) for i in range(local)]


def default_workers(world):
    # Half the CPUs a rank has, leaving the rest to the main process; patches are cut on the CPU.
    return min(4, (os.cpu_count() or 1) // max(1, world) // 2)


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


# ---- arguments ---------------------------------------------------------------------------

def _parser():
    # Every default is None here (DEFAULTS holds the real ones), so that what was given
    # explicitly can be told apart: a resume refuses explicit changes to the run's settings.
    ap = argparse.ArgumentParser(prog='python -m hnfnet_torch.train', description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = ap.add_argument
    add('--config', help='a training config file of `hnfnet train` (e.g. ../configs/brats18-web.json); flags override it')
    add('--data', help='folder of BraTS case folders (a resume takes the run\'s)')
    add('--bundle', help='training bundle (python3 -m hnfnet_torch.pack) to train from instead of --data')
    add('--out', required=True, help='run folder')
    add('--model', help=f'preset ({", ".join(PRESET_NAMES)}) or a model-config JSON file (default hnfnetv2)')
    add('--fold', type=int, help='held-out fold, validated on (default: train on all, no validation)')
    add('--folds', type=int, help='number of folds (default 5)')
    add('--split-file', help='MONAI-style split file (as `hnfnet train --split` reads)')
    add('--seed', type=int, help='weights, data order, crops, augmentation (default 0)')
    add('--epochs', type=int, help='(default 250)')
    add('--steps-per-epoch', type=int, help='(default ⌈training cases / batch⌉)')
    add('--batch', type=int, help='global batch, split over ranks (default 4)')
    add('--accumulate', type=int, help='micro-batches per step (gradient accumulation; default 1)')
    add('--activation-checkpointing', choices=['none', 'pmf'], help='pmf: recompute each PMF module in backward (less memory, same results; default none)')
    add('--patch', type=int, nargs='+', help='side, or x y z (default 128)')
    add('--lr', type=float, help='(default 1e-3)')
    add('--weight-decay', type=float, help='(default 1e-5)')
    add('--warmup-epochs', type=float, help='(default 5)')
    add('--power', type=float, help='(default 0.9)')
    add('--foreground-prob', type=float, help='(default 1/3)')
    add('--no-augment', action='store_true', default=None)
    add('--amp', action='store_true', default=None, help='bfloat16 autocast on GPUs (not in the TS recipe)')
    add('--val-every', type=int, help='validate every N epochs and after the last (default 5)')
    add('--val-window', type=int, nargs='+', help='sliding window side, or x y z (default: the patch)')
    add('--val-overlap', type=float, help='(default 0.25)')
    add('--val-tta', type=int, choices=(1, 8), help='(default 1)')
    add('--val-threshold', type=float, help='(default 0.5)')
    add('--val-max-cases', type=int, help='validate on the first N held-out cases (default all)')
    add('--cache', help='folder of preprocessed cases, reusable across runs and folds (default RUN/preprocessed)')
    add('--workers', type=int, help='loader processes preparing batches per rank (default: half the CPUs per rank, at most 4)')
    add('--pretrained', help='start from the weights of this file (a .safetensors of the same model, e.g. another run\'s '
        'last.safetensors) instead of random ones: fine-tuning; the optimiser and the schedule start afresh')
    add('--resume', action='store_true', default=None, help='continue RUN from its last checkpoint, exactly')
    add('--stop-after', type=int, help='stop (with a checkpoint) after N steps of this session')
    add('--minutes', type=float, help='wall-clock budget of this session: training stops after the step that reaches it, '
        'then the held-out fold is validated (if it was not on that step) and the checkpoint written')
    add('--then-all-cases', action='store_true', default=None, help=f'with --fold and --minutes: the fold\'s run takes at most '
        f'half the budget, then a second run with the same settings trains on every case, no validation, in RUN/{ALL_CASES} for the rest')
    return ap


def _cube(v, flag):
    if v is None or len(v) == 3:
        return v
    if len(v) != 1:
        raise SystemExit(f'{flag} takes a side or x y z, got {len(v)} numbers')
    return v * 3


def parse_args(argv):
    """(args namespace, checkpoint (tensors, state) or None)."""
    given = {k: v for k, v in vars(_parser().parse_args(argv)).items() if v is not None}
    if 'config' in given:
        given = {**read_recipe(given['config']), **given}
    for k, flag in (('patch', '--patch'), ('val_window', '--val-window')):
        if k in given:
            given[k] = _cube(given[k], flag)
    ckpt = None
    if given.get('resume'):
        ckpt = read_last(given['out'])
        saved = ckpt[1]['args']
        changed = [f'--{k.replace("_", "-")} (run: {saved.get(k)!r}, given: {v!r})' for k, v in given.items() if k not in RESUME_MUTABLE and saved.get(k) != v]
        if changed:
            raise SystemExit(f'--resume continues the run with its own settings; these differ: {"; ".join(changed)}. Start a new run (another --out) to change them.')
        # The data may have moved between a folder and a bundle: the one given replaces the run's.
        if 'data' in given or 'bundle' in given:
            saved = {k: v for k, v in saved.items() if k not in ('data', 'bundle')}
        a = {**DEFAULTS, **saved, **given}
    else:
        a = {**DEFAULTS, **given}
        if (a['data'] is None) == (a['bundle'] is None):
            raise SystemExit('one of --data and --bundle is required (except with --resume)')
        if os.path.exists(os.path.join(a['out'], LAST)):
            raise SystemExit(f'{a["out"]} already holds a checkpoint; pass --resume to continue that run, or choose another --out')
    if given.get('data') and given.get('bundle'):
        raise SystemExit('--data and --bundle: give one of them')
    a = argparse.Namespace(**a)
    if a.minutes is not None and not a.minutes > 0:
        raise SystemExit(f'--minutes must be positive, got {a.minutes}')
    if a.then_all_cases:
        if a.fold is None or a.minutes is None:
            raise SystemExit('--then-all-cases follows a run on a fold (--fold) within a budget (--minutes)')
        if os.path.exists(os.path.join(a.out, ALL_CASES, LAST)):
            raise SystemExit(f'--then-all-cases: {os.path.join(a.out, ALL_CASES)} already holds a checkpoint; resume it on its own (--out {os.path.join(a.out, ALL_CASES)} --resume)')
    if a.workers is not None and a.workers < 0:
        raise SystemExit(f'--workers must be 0 or more, got {a.workers}')
    for k in ('epochs', 'batch', 'accumulate', 'val_every', 'folds', 'steps_per_epoch', 'val_max_cases', 'stop_after'):
        v = getattr(a, k)
        if v is not None and v < 1:
            raise SystemExit(f'--{k.replace("_", "-")} must be at least 1, got {v}')
    if not 0 <= a.val_overlap < 1:
        raise SystemExit(f'--val-overlap must be in [0, 1), got {a.val_overlap}')
    return a, ckpt


# ---- the run -----------------------------------------------------------------------------

def main(argv=None):
    try:
        try:
            return _main(argv)
        except (CheckpointError, OSError, ValueError) as e:
            # Bad input (a missing or corrupt file, a torn checkpoint): the message, not a traceback.
            if os.environ.get('HNFNET_DEBUG') and not isinstance(e, CheckpointError):
                raise
            raise SystemExit(f'hnfnet_torch.train: error: {e}') from e
    except BaseException as e:
        if not (dist.is_available() and dist.is_initialized()):
            raise
        # A failed rank of a group leaves at once: Python's own exit would tear the group down
        # under live collectives and can hang there, so the launcher would never see it fail.
        if isinstance(e, SystemExit):
            print(e.code if isinstance(e.code, str) else f'exit {e.code}', file=sys.stderr)
        else:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(e.code if isinstance(e, SystemExit) and isinstance(e.code, int) else 1)


def _main(argv):
    a, ckpt = parse_args(argv)
    t_start = time.time()
    rank, world, device = setup_distributed()
    if not a.then_all_cases:
        result = _run(a, ckpt, rank, world, device, None if a.minutes is None else t_start + 60 * a.minutes)
    else:
        result = _run(a, ckpt, rank, world, device, t_start + 30 * a.minutes)
        # The second run reads the first one's cache: no case is unpacked or preprocessed twice.
        everything = argparse.Namespace(**{**vars(a), 'fold': None, 'val_max_cases': None, 'resume': False, 'stop_after': None,
                                           'out': os.path.join(a.out, ALL_CASES), 'cache': a.cache or os.path.join(a.out, 'preprocessed')})
        if time.time() < t_start + 60 * a.minutes:
            result = {**result, 'all_cases': _run(everything, None, rank, world, device, t_start + 60 * a.minutes)}
        else:
            result = {**result, 'all_cases': None}
            if rank == 0:
                print(f'--then-all-cases: no time left of --minutes {a.minutes:g} for the run on every case', file=sys.stderr)
    if dist.is_initialized():
        dist.destroy_process_group()
    return result


def _cases(a):
    """{id: case} with segmentations, from --bundle or --data."""
    if a.bundle:
        cases = Bundle(a.bundle).training_cases()
        if not cases:
            raise SystemExit(f'{a.bundle}: no case in it has a segmentation')
        return cases
    cases = {k: v for k, v in find_cases(a.data).items() if v['seg']}
    if not cases:
        raise SystemExit(f'{a.data}: no BraTS cases with segmentations found')
    return cases


def _run(a, ckpt, rank, world, device, deadline):
    """One run into a.out, to its last epoch, --stop-after or `deadline` (time.time() seconds)."""
    if a.batch % (world * a.accumulate):
        raise SystemExit(f'--batch {a.batch} must be a multiple of {world} rank(s) × --accumulate {a.accumulate} (equal micro-batches on every rank)')
    if ckpt:
        config, preset = ckpt[1]['config'], ckpt[1]['preset']
    else:
        spec = a.model
        if os.path.isfile(spec):
            with open(spec) as f:
                spec = json.load(f)
        config = parse_config(spec)
        preset = a.model if a.model in PRESET_NAMES else 'custom'
    window = a.val_window or a.patch
    mult = size_multiple(config)
    for what, size in (('--patch', a.patch), ('--val-window', window)):
        if any(s % mult for s in size):
            raise SystemExit(f'{what} {"×".join(map(str, size))}: every side must be a multiple of {mult} for {preset}')

    cases = _cases(a)
    folds = folds_from_split_file(a.split_file, cases) if a.split_file else kfold_assignment(list(cases), a.folds, a.seed)
    train_ids = [cid for cid, f in zip(cases, folds) if a.fold is None or f != a.fold]
    held_out = [cid for cid, f in zip(cases, folds) if a.fold is not None and f == a.fold]
    if ckpt and (ckpt[1]['cases']['train'] != train_ids or ckpt[1]['cases']['val'] != held_out):
        raise SystemExit(f'--resume: {a.bundle or a.data} no longer splits into the cases the run was trained on '
                         f'({len(ckpt[1]["cases"]["train"])} train / {len(ckpt[1]["cases"]["val"])} validation then, {len(train_ids)} / {len(held_out)} now)')
    val_ids = held_out if a.val_max_cases is None else held_out[:a.val_max_cases]
    os.makedirs(a.out, exist_ok=True)
    if rank == 0 and not ckpt:
        write_split_file(os.path.join(a.out, 'splits.json'), cases, folds)
    cache = a.cache or os.path.join(a.out, 'preprocessed')
    t_pre = time.time()
    made, reused = case_cache.prepare(cases, train_ids + val_ids, cache)
    if rank == 0:
        print(f'{"unpacked" if a.bundle else "preprocessed"} {made} case(s) into {cache} in {time.time() - t_pre:.1f} s ({reused} already there)', file=sys.stderr)
    # Each rank validates its share of the held-out cases, read from the cache when it is their turn.
    def val_cases():
        return (case_cache.load(cache, cid)[::2] for cid in val_ids[rank::world])

    if device.type == 'cuda':
        # Patches and windows have one size: cuDNN's autotuner picks the fastest 3D convolutions once.
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(a.seed)
    model = set_activation_checkpointing(build_model(config), a.activation_checkpointing).to(device).train()
    opt = make_optimizer(model, a.lr, weight_decay=a.weight_decay)
    spe = a.steps_per_epoch or math.ceil(len(train_ids) / a.batch)
    total = a.epochs * spe
    run_id, step, best = secrets.token_hex(6), 0, None
    if a.pretrained and not ckpt:
        load_pretrained(model, a.pretrained, config, device)
        if rank == 0:
            print(f'started from the weights of {a.pretrained}', file=sys.stderr)
    if ckpt:
        model.load_state_dict({k: v.to(device) for k, v in ckpt[0].items()}, strict=True)
        opt.load_state_dict(ckpt[1]['optimizer'])
        run_id, step, best = ckpt[1]['run'], ckpt[1]['step'], ckpt[1]['best']
    ddp = wrap(model, device)

    def weights_meta(kind, validation=None):
        md = {**weights_metadata(config, preset), 'hnfnet_run': run_id, 'hnfnet_kind': kind, 'hnfnet_step': str(step), 'hnfnet_epoch': str(step // spe)}
        if validation:
            md['hnfnet_val'] = json.dumps(validation)
        return md

    saved_at = step if ckpt else -1

    def save_last():
        nonlocal saved_at
        if rank == 0 and saved_at != step:
            state = {'format': STATE_FORMAT, 'run': run_id, 'step': step, 'epoch': step // spe, 'steps_per_epoch': spe, 'best': best,
                     'optimizer': opt.state_dict(), 'config': config, 'preset': preset, 'cases': {'train': train_ids, 'val': held_out},
                     'args': {k: v for k, v in vars(a).items() if k not in SESSION}}
            write_last(a.out, model, weights_meta('last'), state)
        saved_at = step

    log = RunLog(os.path.join(a.out, LOG), step if ckpt else None) if rank == 0 else None
    if log:
        log.append({'type': 'start', 'step': step, 'steps_per_epoch': spe, 'epochs': a.epochs, 'resumed': bool(ckpt), 'time': now(),
                    'model': preset, 'train_cases': len(train_ids), 'val_cases': len(val_ids),
                    **({'pretrained': os.path.abspath(a.pretrained)} if a.pretrained and not ckpt else {})})
        print(f'{"resuming at step %d/%d" % (step, total) if ckpt else "training"} {preset} on {world} rank(s) ({device.type}); '
              f'{len(train_ids)} train, {len(val_ids)} validated; {a.epochs} epochs × {spe} steps, batch {a.batch}'
              f'{" (%d × %d)" % (a.accumulate, a.batch // a.accumulate) if a.accumulate > 1 else ""}; run {run_id} in {a.out}', file=sys.stderr)

    slots = rank_slots(a.batch, a.accumulate, world, rank)
    batches = StepBatches(cache, train_ids, slots, a.batch, spe, a.patch, a.seed, a.foreground_prob, None if a.no_augment else DEFAULT_AUGMENT)
    last = total if a.stop_after is None else min(total, step + a.stop_after)
    reason, epoch_stats, t0 = 'finished' if last == total else 'stop-after', [], time.time()
    first_step, train_seconds, last_val = step, 0.0, None

    def run_validation():
        nonlocal best, last_val
        done = step // spe
        val = {'epoch': done, 'step': step, **validate(model, val_cases(), tuple(window[::-1]), a.val_overlap, a.val_tta, a.val_threshold, device, world)}
        improved = best is None or val['mean'] > best['mean']
        if improved:
            best = val
            if rank == 0:
                write_weights(os.path.join(a.out, BEST), model, weights_meta('best', val))
        if log:
            log.append({'type': 'val', 'step': step, 'epoch': done, 'dice': val['dice'], 'mean': val['mean'], 'cases': val['cases'], 'seconds': val['seconds'], 'best': improved})
        last_val = val
        return val, improved

    t_step = time.time()
    for x, t in loader(batches, step, last, a.workers if a.workers is not None else default_workers(world)):
        epoch = step // spe
        x, t = x.to(device), t.to(device)
        lr = learning_rate(step, a.lr, a.epochs, a.warmup_epochs, a.power, spe)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.amp and device.type == 'cuda'):
            stats = torch.stack(train_step(ddp, opt, x, t, lr, accumulate=a.accumulate))
        # Out of time on any rank stops every rank at this step (clocks differ by a little).
        out_of_time = deadline is not None and time.time() >= deadline
        if world > 1:
            # Logged as the whole batch's loss, whatever the rank count.
            stats = torch.cat([stats.float(), torch.tensor([float(out_of_time)], device=stats.device)])
            dist.all_reduce(stats)
            stats /= world
            out_of_time = bool(stats[3] > 0)
            stats = stats[:3]
        loss, dice, bce = stats.tolist()
        if not math.isfinite(loss):
            raise SystemExit(f'training step {step + 1}: the loss is {loss} (dice {dice}, bce {bce}); stopping (the last checkpoint is from before it)')
        step += 1
        epoch_stats.append((loss, dice, bce))
        if log:
            # Seconds from the previous step's end: the step itself, plus any wait for the loader.
            log.append({'type': 'step', 'step': step, 'epoch': epoch, 'loss': loss, 'dice_loss': dice, 'bce': bce, 'lr': lr,
                        'seconds': time.time() - t_step, 'live_bytes': torch.cuda.memory_allocated(device) if device.type == 'cuda' else 0})
        train_seconds += time.time() - t_step
        t_step = time.time()
        if out_of_time and step < total:
            reason = 'time-budget'
            break
        if step % spe:
            continue
        done = step // spe
        val = None
        if val_ids and (done % a.val_every == 0 or step == total):
            val, improved = run_validation()
        if rank == 0:
            means = np.mean(epoch_stats, 0).tolist()
            line = {'epoch': done, 'step': step, 'loss': means[0], 'dice': means[1], 'bce': means[2], 'lr': lr, 'seconds': time.time() - t0}
            if val:
                line['val'] = {'dice': val['dice'], 'mean': val['mean'], 'best': improved}
            print(json.dumps(line), flush=True)
        epoch_stats, t0 = [], time.time()
        save_last()
        t_step = time.time()  # a step's seconds leave out the validation and checkpoint before it
    # Training steps (and waits for the loader) only: validations and checkpoints are not in it.
    steps_per_s = (step - first_step) / max(1e-9, train_seconds)
    if reason == 'time-budget' and val_ids and (last_val is None or last_val['step'] != step):
        # The budget ends the run wherever it is: the fold's Dice is measured on these weights.
        run_validation()
    save_last()
    if log:
        log.append({'type': 'stop', 'step': step, 'reason': reason, 'time': now()})
        log.close()
        print(f'{reason} at step {step}/{total}: {step - first_step} step(s) this session, {steps_per_s:.3g} steps/s', file=sys.stderr)
        if best:
            print(f'best mean Dice {best["mean"]:.4f} after epoch {best["epoch"]} ({os.path.join(a.out, BEST)})', file=sys.stderr)
    if dist.is_initialized():
        # Every collective finished and the DDP wrapper gone before the group: dropped later (at
        # return), the wrapper takes the group down from Python's collector, and torch 1.13's
        # gloo can deadlock there (its worker thread waits for the GIL the collector holds while
        # it joins that worker). Seen as a rank spinning forever after a finished run.
        dist.barrier()
        del ddp
        gc.collect()
    return {'reason': reason, 'step': step, 'best': best, 'run': run_id, 'steps_per_s': steps_per_s,
            'val': last_val if last_val and last_val['step'] == step else None}


if __name__ == '__main__':
    main()
