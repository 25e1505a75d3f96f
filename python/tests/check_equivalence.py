"""The PyTorch half of the twin equivalence check (test/twin/export.ts writes the other).

    /usr/bin/python3 python/tests/check_equivalence.py DIR [--dtype float64|float32]

Loads DIR/weights.safetensors into the twin (strict names), runs the eval-mode forward on
DIR/case.safetensors' input and, when the case holds gradients, one training-mode step with
the same loss; prints one JSON object of differences and scales (the vitest test asserts)."""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import torch  # noqa: E402

from hnfnet_torch import load_file, load_weights, segmentation_loss  # noqa: E402
from hnfnet_torch.train import native_outputs  # noqa: E402


def max_abs(t):
    return float(t.abs().max()) if t.numel() else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    # float64 by default: the reference then carries no rounding of its own, and the
    # difference measures the TS float32 GPU run alone.
    ap.add_argument('--dtype', default='float64', choices=['float64', 'float32'])
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    model, config, preset = load_weights(os.path.join(a.dir, 'weights.safetensors'), dtype=dtype)
    case, _ = load_file(os.path.join(a.dir, 'case.safetensors'))
    x = case['input'].to(dtype)
    want = case['output'].to(dtype)

    t0 = time.time()
    with torch.no_grad():
        got = model(x)
    res = {
        'preset': preset,
        'dtype': a.dtype,
        'shape': list(got.shape),
        'forward': {'max_abs_diff': max_abs(got - want), 'scale': max_abs(want), 'seconds': time.time() - t0},
    }

    if 'loss' in case:
        t0 = time.time()
        model.train()
        target = case['target'].to(dtype)
        loss, dice, bce = segmentation_loss(*native_outputs(model, x, target))
        loss.backward()
        res['loss'] = {k: {'twin': float(v), 'ts': float(case[k])} for k, v in (('loss', loss), ('dice', dice), ('bce', bce))}
        grads = {}
        for name, p in model.named_parameters():
            ts = case.get(f'grad.{name}')
            if p.grad is None or ts is None:
                # A gradient on one side only is a mismatch in what trains (e.g. the EM stop-gradient).
                grads[name] = {'twin_has_grad': p.grad is not None, 'ts_has_grad': ts is not None}
                continue
            g = p.grad.detach()
            grads[name] = {'max_abs_diff': max_abs(g - ts.to(dtype)), 'scale': max(max_abs(g), max_abs(ts))}
        res['grads'] = grads
        res['unmatched_grad_names'] = sorted(k[5:] for k in case if k.startswith('grad.') and k[5:] not in dict(model.named_parameters()))
        mu = model.ema.mu.detach()
        res['mu_after'] = {'max_abs_diff': max_abs(mu - case['mu_after'].to(dtype)), 'scale': max_abs(mu)}
        res['step_seconds'] = time.time() - t0
    print(json.dumps(res))


if __name__ == '__main__':
    main()
