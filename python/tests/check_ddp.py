"""One training step of `tiny` on two gloo ranks (batch 1 each) against one process with
the batch of 2: weights, EM bases and gradients must agree. Prints JSON.

    /usr/bin/python3 python/tests/check_ddp.py"""
import json
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from hnfnet_torch import build_model  # noqa: E402
from hnfnet_torch.train import make_optimizer, train_step, wrap  # noqa: E402

SIZE = 16
LR = 1e-3


def initial_state():
    torch.manual_seed(0)
    model = build_model('tiny').double()
    # Off the ReLU kink of the SE blocks at initialisation (see test/twin/export.ts), where
    # gradients are float noise and Adam's first step (≈ lr·sign(g)) would amplify it.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return {k: v.clone() for k, v in model.state_dict().items()}


def batch():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, SIZE, SIZE, SIZE, generator=g, dtype=torch.float64)
    a = x[:, 0] + 0.5 * x[:, 1]
    t = torch.stack([a > 0, a > 0.6, a > 1.2], 1).double()
    return x, t


def step(model, x, t):
    model.train()
    opt = make_optimizer(model)
    ddp = wrap(model, torch.device('cpu'))
    train_step(ddp, opt, x, t, LR)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.clone() for k, v in model.state_dict().items()}, grads


def rank_main(rank, world, port, state, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    model = build_model('tiny').double()
    model.load_state_dict(state)
    x, t = batch()
    sd, grads = step(model, x[rank:rank + 1], t[rank:rank + 1])
    torch.save({'state': sd, 'grads': grads}, f'{out}.{rank}')
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main():
    state = initial_state()
    model = build_model('tiny').double()
    model.load_state_dict(state)
    x, t = batch()
    torch.set_num_threads(1)
    want, want_g = step(model, x, t)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'rank')
        mp.spawn(rank_main, args=(2, free_port(), state, out), nprocs=2, join=True)
        ranks = [torch.load(f'{out}.{r}') for r in range(2)]
    res = {'weights': {}, 'grads': {}, 'ranks_agree': 0.0}
    moved = 0.0
    for k, w in want.items():
        got = ranks[0]['state'][k]
        res['weights'][k] = float((got - w).abs().max())
        res['ranks_agree'] = max(res['ranks_agree'], float((ranks[1]['state'][k] - got).abs().max()))
        moved = max(moved, float((w - state[k]).abs().max()))
    for k, g in want_g.items():
        got = ranks[0]['grads'].get(k)
        res['grads'][k] = {'max_abs_diff': float((got - g).abs().max()) if got is not None else None, 'scale': float(g.abs().max())}
    res['grads_only_in_ddp'] = sorted(set(ranks[0]['grads']) - set(want_g))
    res['max_weight_diff'] = max(res['weights'].values())
    res['max_step'] = moved
    res['lr'] = LR
    print(json.dumps(res))


if __name__ == '__main__':
    main()
