/**
 * The PyTorch trainer (python/hnfnet_torch/train.py): data-parallel steps equal single-process
 * steps, and a torchrun run on generated BraTS-style cases leaves weights that the TS side
 * (what `hnfnet infer` uses) loads and runs. Skipped without Debian's python3-torch.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelFromWeights, noGrad, phantomFiles, randn, tidy } from '../../src/index.js';
import { getDevice } from '../helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';

function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torch.distributed as d; assert d.is_available() and d.is_gloo_available()'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is not runnable (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} cannot import torch with gloo (as root: apt-get install --no-install-recommends python3-torch)`;
  return null;
}
const missing = torchMissing();

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(missing !== null)(`PyTorch trainer at scale${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('one step of tiny on two gloo ranks (batch 1 each) gives the weights and EM bases of one process with batch 2', () => {
    const r = spawnSync(PYTHON, [path.join(ROOT, 'python/tests/check_ddp.py')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`check_ddp.py failed (${r.status}):\n${r.stderr}`);
    const res = JSON.parse(r.stdout) as { max_weight_diff: number; ranks_agree: number; max_step: number; weights: Record<string, number>; grads_only_in_ddp: string[]; grads: Record<string, { max_abs_diff: number | null; scale: number }> };
    // float64 on both sides: agreement to rounding, far below the step itself (Adam's first step is about lr = 1e-3 per weight).
    expect(res.max_step).toBeGreaterThan(1e-4);
    expect(res.max_weight_diff).toBeLessThan(1e-9);
    expect(res.ranks_agree).toBe(0);
    expect(res.weights['ema.mu']).toBeLessThan(1e-12);
    expect(res.grads_only_in_ddp).toEqual([]);
    for (const [name, g] of Object.entries(res.grads)) expect(g.max_abs_diff, name).not.toBeNull();
    for (const [name, g] of Object.entries(res.grads)) expect(g.max_abs_diff!, name).toBeLessThanOrEqual(1e-9 * g.scale + 1e-15);
  });

  it('train.py as two gloo ranks (torchrun’s environment) trains tiny on generated cases; TS loads the checkpoint and runs it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hnfnet-torchrun-'));
    dirs.push(dir);
    for (const seed of [1, 2, 3]) {
      const caseDir = path.join(dir, 'data', `phantom-${seed}`);
      mkdirSync(caseDir, { recursive: true });
      for (const f of phantomFiles({ size: 40, seed })) writeFileSync(path.join(caseDir, f.name), f.bytes);
    }
    const run = path.join(dir, 'run');
    // The environment torchrun gives each rank (env:// rendezvous), set by hand: Debian's
    // torch 1.13 launcher fails under Python 3.11 (its Std flag lookup returns None).
    const args = ['-m', 'hnfnet_torch.train', '--data', path.join(dir, 'data'), '--out', run, '--model', 'tiny', '--fold', '0', '--folds', '3', '--epochs', '2', '--batch', '2', '--patch', '32', '--steps-per-epoch', '2'];
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const ranks = [0, 1].map(
      (rank) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const env = { ...process.env, OMP_NUM_THREADS: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, WORLD_SIZE: '2', RANK: String(rank), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: '2' };
          const p = spawn(PYTHON, args, { cwd: path.join(ROOT, 'python'), env });
          let stdout = '';
          let stderr = '';
          p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          p.on('close', (code) => resolve({ code, stdout, stderr }));
        }),
    );
    const done = await Promise.all(ranks);
    for (const [rank, d] of done.entries()) if (d.code !== 0) throw new Error(`rank ${rank} failed (${d.code}):\n${d.stdout}\n${d.stderr}`);
    const r = done[0]!;
    const epochs = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { epoch: number; loss: number });
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    for (const e of epochs) expect(Number.isFinite(e.loss)).toBe(true);
    expect(existsSync(path.join(run, 'splits.json'))).toBe(true);

    const device = await getDevice();
    const { model, preset } = loadModelFromWeights(readFileSync(path.join(run, 'last.safetensors')), 'last.safetensors', { device });
    expect(preset).toBe('tiny');
    const x = randn([1, 4, 32, 32, 32], { seed: 1, device });
    const y = noGrad(() => tidy(() => model.call(x)));
    expect(y.shape).toEqual([1, 3, 32, 32, 32]);
    expect((await y.data()).every(Number.isFinite)).toBe(true);
    y.dispose();
    x.dispose();
    model.dispose();
  });
});
