"""Run-level checks of hnfnet_torch.train on the BraTS-style cases in DATA (three of them; fold 0
of 3 is held out), working in WORK. Prints one JSON object:

  resume      a run stopped after 2 of 4 epochs, resumed, stopped mid-epoch, resumed again, against
              the 4 epochs straight: weights, EM bases, Adam state, best checkpoint and log
  refused     what --resume says to changed settings, torn, truncated and missing checkpoint files
  recovered   a pair torn between the two renames, completed from the temp file
  accumulate  float64 gradients, weight changes and EM bases of one step with --accumulate 2 and 4
              against the full batch, with the EM bases frozen (momentum 1) and with the default momentum
  ddp_accumulate  two gloo ranks × accumulate 2 against one process with the full batch, and how
              often DDP reduced the gradients
  loader      two loader workers against none (same weights), a cache reused by a second run, a
              changed source preprocessed again

    OMP_NUM_THREADS=1 /usr/bin/python3 python/tests/check_train.py DATA WORK"""
import contextlib
import io
import json
import os
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from hnfnet_torch import build_model, load_file, preset_config  # noqa: E402
from hnfnet_torch.checkpoint import _read_state as read_state  # noqa: E402
from hnfnet_torch.train import main, make_optimizer, rank_slots, train_step, wrap  # noqa: E402

LR = 1e-3


def run(argv):
    """main(argv) → (result or None, SystemExit message or None, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return main(argv), None, err.getvalue()
        except SystemExit as e:
            return None, str(e.code), err.getvalue()


def ok(argv):
    result, error, stderr = run(argv)
    if error is not None:
        raise RuntimeError(f'train {" ".join(argv)}: {error}\n{stderr}')
    return result


def log_lines(run_dir):
    with open(os.path.join(run_dir, 'log.jsonl')) as f:
        lines = [json.loads(line) for line in f]
    for line in lines:
        line.pop('seconds', None)
    return [line for line in lines if line['type'] in ('step', 'val')]


def unequal(a, b):
    """Names whose tensors are not bit-identical (or present on one side only)."""
    return sorted(k for k in set(a) | set(b) if k not in a or k not in b or not torch.equal(a[k], b[k]))


def optimizer_unequal(a, b):
    sa, sb = a['state'], b['state']
    bad = [str(k) for k in set(sa) | set(sb) if k not in sa or k not in sb or unequal(sa[k], sb[k])]
    return sorted(bad) + (['param_groups'] if a['param_groups'] != b['param_groups'] else [])


def check_resume(data, work):
    common = ['--data', data, '--model', 'tiny', '--fold', '0', '--folds', '3', '--epochs', '4', '--batch', '2', '--patch', '16',
              '--steps-per-epoch', '2', '--val-every', '1']
    straight, resumed = os.path.join(work, 'straight'), os.path.join(work, 'resumed')
    res = {'straight': ok(['--out', straight] + common)}
    res['session1'] = ok(['--out', resumed, '--stop-after', '4'] + common)
    shutil.copy(os.path.join(resumed, 'last.train.pt'), os.path.join(work, 'step4.train.pt'))
    at_stop = load_file(os.path.join(resumed, 'last.safetensors'))[0]
    res['session2'] = ok(['--out', resumed, '--resume', '--stop-after', '1'])
    res['session3'] = ok(['--out', resumed, '--resume'])
    a, b = (read_state(os.path.join(d, 'last.train.pt')) for d in (straight, resumed))
    wa, wb = (load_file(os.path.join(d, 'last.safetensors'))[0] for d in (straight, resumed))
    res['weights_unequal'] = unequal(wa, wb)
    res['weight_names'] = sorted(wa)
    res['moved_after_stop'] = max(float((wb[k] - at_stop[k]).abs().max()) for k in wb)
    res['best_unequal'] = unequal(load_file(os.path.join(straight, 'best.safetensors'))[0], load_file(os.path.join(resumed, 'best.safetensors'))[0])
    res['optimizer_unequal'] = optimizer_unequal(a['optimizer'], b['optimizer'])
    res['state_steps'] = [a['step'], b['step']]
    res['best_equal'] = {k: v for k, v in a['best'].items() if k != 'seconds'} == {k: v for k, v in b['best'].items() if k != 'seconds'}
    la, lb = log_lines(straight), log_lines(resumed)
    res['log_equal'] = la == lb
    res['log_lines'] = [len(la), len(lb)]
    return res, common


def check_refused(data, work, common):
    final = os.path.join(work, 'resumed')

    def variant(name, edit):
        d = os.path.join(work, name)
        shutil.copytree(final, d)
        edit(d)
        return d

    def truncate(path):
        size = os.path.getsize(path)
        with open(path, 'r+b') as f:
            f.truncate(size // 2)

    res = {}
    for flag, value in (('--epochs', '8'), ('--batch', '4'), ('--patch', '32'), ('--model', 'unet3d'), ('--accumulate', '2')):
        res[f'changed {flag}'] = run(['--out', final, '--resume', flag, value])[1]
    res['same settings given again'] = run(['--out', final, '--resume'] + common)[1]
    res['new run over a checkpoint'] = run(['--out', final] + common)[1]
    res['no checkpoint'] = run(['--out', os.path.join(work, 'empty'), '--resume'])[1]
    torn = variant('torn', lambda d: shutil.copy(os.path.join(work, 'step4.train.pt'), os.path.join(d, 'last.train.pt')))
    res['torn pair'] = run(['--out', torn, '--resume'])[1]
    res['truncated state'] = run(['--out', variant('cut-state', lambda d: truncate(os.path.join(d, 'last.train.pt'))), '--resume'])[1]
    res['truncated weights'] = run(['--out', variant('cut-weights', lambda d: truncate(os.path.join(d, 'last.safetensors'))), '--resume'])[1]
    res['missing state'] = run(['--out', variant('no-state', lambda d: os.remove(os.path.join(d, 'last.train.pt'))), '--resume'])[1]
    res['missing weights'] = run(['--out', variant('no-weights', lambda d: os.remove(os.path.join(d, 'last.safetensors'))), '--resume'])[1]
    bad = os.path.join(work, 'bad-data')
    shutil.copytree(data, bad)
    t1 = next(os.path.join(d, f) for d, _, fs in sorted(os.walk(bad)) for f in sorted(fs) if f.endswith('_t1.nii.gz'))
    truncate(t1)
    res['corrupt case'] = run(['--out', os.path.join(work, 'bad-run'), '--data', bad] + common[2:])[1]
    # Killed between the renames: new weights, old state, the new state complete in its temp file.
    rec = variant('recover', lambda d: (shutil.copy(os.path.join(d, 'last.train.pt'), os.path.join(d, 'last.train.pt.tmp')),
                                        shutil.copy(os.path.join(work, 'step4.train.pt'), os.path.join(d, 'last.train.pt'))))
    result, error, stderr = run(['--out', rec, '--resume'])
    recovered = {'error': error, 'stderr': stderr, 'step': result and result['step'], 'tmp_left': os.path.exists(os.path.join(rec, 'last.train.pt.tmp')),
                 'state_step': read_state(os.path.join(rec, 'last.train.pt'))['step']}
    return res, recovered


# ---- gradient accumulation ----------------------------------------------------------------

SIZE = 16


def initial_state(config):
    torch.manual_seed(0)
    model = build_model(config).double()
    # Off the ReLU kink of the SE blocks at initialisation (as check_ddp.py): there gradients are
    # float noise that Adam's first step (≈ lr·sign(g)) would amplify.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return {k: v.clone() for k, v in model.state_dict().items()}


def batch(n=4):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, 4, SIZE, SIZE, SIZE, generator=g, dtype=torch.float64)
    a = x[:, 0] + 0.5 * x[:, 1]
    # Sample 3 without ET, so an empty target channel (MONAI's weight rule) is in the batch.
    t = torch.stack([a > 0, a > 0.6, (a > 1.2) & (torch.arange(n) != 3)[:, None, None, None]], 1).double()
    return x, t


def one_step(config, state, x, t, accumulate, world=1):
    model = build_model(config).double()
    model.load_state_dict(state)
    model.train()
    opt = make_optimizer(model)
    ddp = wrap(model, torch.device('cpu'))
    calls = [0]
    if ddp is not model:
        from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

        def counting(st, bucket):
            calls[0] += 1
            return allreduce_hook(st, bucket)
        ddp.register_comm_hook(None, counting)
    train_step(ddp, opt, x, t, LR, accumulate=accumulate)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.clone() for k, v in model.state_dict().items()}, grads, calls[0]


def compare(state, want, got):
    """Largest |difference| relative to the largest |value| per gradient and per weight change; the EM bases apart."""
    (w_sd, w_g), (g_sd, g_g) = want, got
    grad = max(float((g_g[k] - w_g[k]).abs().max() / w_g[k].abs().max()) for k in w_g)
    change = max(float((g_sd[k] - w_sd[k]).abs().max() / max((w_sd[k] - state[k]).abs().max(), 1e-300))
                 for k in w_sd if k != 'ema.mu' and (w_sd[k] - state[k]).abs().max() > 0)
    return {'grad_rel': grad, 'change_rel': change, 'grad_names': sorted(w_g) == sorted(g_g),
            'mu_abs': float((g_sd['ema.mu'] - w_sd['ema.mu']).abs().max()), 'mu_moved': float((w_sd['ema.mu'] - state['ema.mu']).abs().max())}


def check_accumulate():
    torch.set_num_threads(1)
    x, t = batch()
    res = {}
    for name, config in (('frozen_bases', preset_config('tiny', emaMomentum=1, emaRenormalize=False)), ('default', preset_config('tiny'))):
        state = initial_state(config)
        full = one_step(config, state, x, t, 1)[:2]
        res[name] = {str(n): compare(state, full, one_step(config, state, x, t, n)[:2]) for n in (2, 4)}
    return res


def rank_main(rank, world, port, state, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    x, t = batch()
    slots = rank_slots(4, 2, world, rank)
    sd, grads, calls = one_step(preset_config('tiny'), state, x[slots], t[slots], 2)
    # Reductions of one backward without accumulation: one per gradient bucket.
    per_backward = one_step(preset_config('tiny'), state, x[slots], t[slots], 1)[2]
    torch.save({'state': sd, 'grads': grads, 'calls': calls, 'per_backward': per_backward, 'slots': slots}, f'{out}.{rank}')
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def check_ddp_accumulate():
    config = preset_config('tiny')
    state = initial_state(config)
    x, t = batch()
    want = one_step(config, state, x, t, 1)[:2]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'rank')
        mp.spawn(rank_main, args=(2, free_port(), state, out), nprocs=2, join=True)
        ranks = [torch.load(f'{out}.{r}') for r in range(2)]
    res = compare(state, want, (ranks[0]['state'], ranks[0]['grads']))
    res['ranks_agree'] = not unequal(ranks[0]['state'], ranks[1]['state'])
    res['slots'] = [r['slots'] for r in ranks]
    # With no_sync, a step of 2 micro-batches reduces as often as one backward does.
    res['reductions'] = [r['calls'] for r in ranks]
    res['reductions_per_backward'] = [r['per_backward'] for r in ranks]
    return res


def check_loader(data, work):
    """The same run with --workers 0 and 2 sharing one --cache; then a touched source."""
    cache = os.path.join(work, 'cache')
    args = ['--data', data, '--model', 'tiny', '--fold', '0', '--folds', '3', '--epochs', '2', '--batch', '2', '--patch', '16',
            '--steps-per-epoch', '2', '--cache', cache]
    res = {}
    outs = {}
    for workers in (0, 2):
        out = os.path.join(work, f'workers{workers}')
        result, error, stderr = run(['--out', out, '--workers', str(workers)] + args)
        if error is not None:
            raise RuntimeError(f'--workers {workers}: {error}\n{stderr}')
        res[f'stderr_workers{workers}'] = stderr
        outs[workers] = load_file(os.path.join(out, 'last.safetensors'))[0]
    res['weights_unequal'] = unequal(outs[0], outs[2])
    res['weight_names'] = len(outs[0])
    # A newer source file (as when a case is re-exported) makes its cache entry stale.
    t1 = next(os.path.join(d, f) for d, _, fs in sorted(os.walk(data)) for f in sorted(fs) if f.endswith('_t1.nii.gz'))
    st = os.stat(t1)
    os.utime(t1, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    res['stderr_touched'] = run(['--out', os.path.join(work, 'touched'), '--workers', '0'] + args)[2]
    os.utime(t1, ns=(st.st_atime_ns, st.st_mtime_ns))
    return res


def main_check():
    data, work = sys.argv[1], sys.argv[2]
    resume, common = check_resume(data, work)
    refused, recovered = check_refused(data, work, common)
    print(json.dumps({'resume': resume, 'refused': refused, 'recovered': recovered, 'accumulate': check_accumulate(),
                      'ddp_accumulate': check_ddp_accumulate(), 'loader': check_loader(data, work)}, default=str))


if __name__ == '__main__':
    main_check()
