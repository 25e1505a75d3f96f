/**
 * The twin's activation checkpointing (`--activation-checkpointing pmf`, torch.utils.checkpoint
 * over each PMF module): one training forward and backward of `tiny` gives the same gradients
 * and moved EM bases as without it, in float64.
 */
import { describe, expect, it } from 'vitest';
import { PYTHON, PYTHON_PKG, run, torchMissing } from './python.js';

const missing = torchMissing();

describe('the twin', () => {
  it.skipIf(missing !== null)(`checkpointing its PMF modules changes no gradient${missing ? ` (skipped: ${missing})` : ''}`, async () => {
    const code = `import json, torch
from hnfnet_torch.model import build_model, set_activation_checkpointing, PMF
torch.manual_seed(0)
x = torch.randn(2, 4, 16, 16, 16, dtype=torch.float64)
w = torch.randn(2, 3, 16, 16, 16, dtype=torch.float64)
def step(mode):
    model = set_activation_checkpointing(build_model('tiny', seed=3).double().train(), mode)
    assert all(m.checkpointed == (mode == 'pmf') for m in model.modules() if isinstance(m, PMF))
    (model(x) * w).sum().backward()
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    out['ema.mu'] = model.ema.mu.clone()
    return out
a, b = step('none'), step('pmf')
worst = max(((a[k] - b[k]).abs().max() / (a[k].abs().max() + 1e-30)).item() for k in a)
try:
    set_activation_checkpointing(build_model('unet3d'), 'pmf')
    refused = ''
except ValueError as e:
    refused = str(e)
print(json.dumps({'keys': len(a), 'same_keys': sorted(a) == sorted(b), 'worst': worst, 'refused': refused}))`;
    const r = await run(PYTHON, ['-c', code], { cwd: PYTHON_PKG });
    if (r.code !== 0) throw new Error(`python failed (${r.code}): ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { keys: number; same_keys: boolean; worst: number; refused: string };
    expect(out.keys).toBeGreaterThan(100);
    expect(out.same_keys).toBe(true);
    expect(out.worst).toBeLessThan(1e-10);
    expect(out.refused).toMatch(/3D U-Net has no PMF modules/);
  });
});
