/**
 * The twin's run state is read with torch.load(weights_only=True): a last.train.pt from someone
 * else cannot run code on load, and what the trainer saves (an Adam state, the config, the run's
 * settings) still loads. Skipped without Debian's python3-torch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PYTHON, PYTHON_PKG, torchMissing } from './python.js';

const missing = torchMissing();

const SCRIPT = `
import os, sys, torch
from hnfnet_torch.checkpoint import CheckpointError, STATE_FORMAT, _read_state, encode_state
work, marker = sys.argv[1], sys.argv[2]

class Payload:
    def __reduce__(self):
        return (open, (marker, 'w'))

evil = os.path.join(work, 'evil.train.pt')
torch.save({'format': STATE_FORMAT, 'x': Payload()}, evil)
try:
    _read_state(evil)
    print('loaded')
except CheckpointError as e:
    print('refused', 'weights_only' in str(e) or 'Unsupported' in str(e) or 'global' in str(e).lower())

p = torch.nn.Linear(3, 2)
opt = torch.optim.Adam(p.parameters(), lr=1e-3)
p(torch.ones(1, 3)).sum().backward()
opt.step()
good = os.path.join(work, 'good.train.pt')
state = {'format': STATE_FORMAT, 'run': 'r', 'step': 3, 'best': {'mean': 0.1 + 0.2, 'epoch': 1}, 'optimizer': opt.state_dict(),
         'config': {'kind': 'tiny', 'widths': [4, 8]}, 'args': {'lr': 1e-3, 'patch': [16, 16, 16], 'amp': None}}
with open(good, 'wb') as f:
    encode_state(state, f)
s = _read_state(good)
want = opt.state_dict()
same = (s['best'] == state['best'] and s['args'] == state['args'] and s['optimizer']['param_groups'] == want['param_groups']
        and all(torch.equal(s['optimizer']['state'][k][n], want['state'][k][n]) for k in want['state'] for n in want['state'][k]))
print('good', s['step'], len(s['optimizer']['state']), same)
`;

describe.skipIf(missing !== null)(`twin run state${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('a pickle that would run code is refused without running it; a real training state loads', () => {
    const work = mkdtempSync(path.join(tmpdir(), 'hnfnet-twin-state-'));
    const marker = path.join(work, 'pwned');
    const r = spawnSync(PYTHON, ['-c', SCRIPT, work, marker], { cwd: PYTHON_PKG, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^refused/);
    expect(existsSync(marker)).toBe(false);
    expect(lines[1]).toBe('good 3 2 True');
  }, 120_000);
});
