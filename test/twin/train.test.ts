/**
 * The PyTorch trainer's run (python/hnfnet_torch/train.py) as `hnfnet train`'s twin, on generated
 * BraTS-style cases: resume is exact and refuses what it cannot continue, gradient accumulation
 * equals the full batch, best.safetensors holds the best validation and loads in TS, and
 * `hnfnet plot` draws its log.jsonl.
 * python/tests/check_train.py does the Python side. Skipped without Debian's python3-torch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { command as plot } from '../../src/cli/plot-command.js';
import { parseLog, type StepLine, type ValLine } from '../../src/train/run-log.node.js';
import { loadModelFromWeights, readWeightsInfo } from '../../src/index.js';
import { getDevice } from '../helpers.js';
import { PYTHON, ROOT, torchMissing, writePhantoms } from './python.js';

const missing = torchMissing({ gloo: true });

interface Compared {
  grad_rel: number;
  change_rel: number;
  grad_names: boolean;
  mu_abs: number;
  mu_moved: number;
}
interface Session {
  reason: string;
  step: number;
  best: { epoch: number; step: number; mean: number } | null;
  run: string;
}
interface CheckTrain {
  loader: { stderr_workers0: string; stderr_workers2: string; stderr_touched: string; weights_unequal: string[]; weight_names: number };
  resume: {
    straight: Session;
    session1: Session;
    session2: Session;
    session3: Session;
    weights_unequal: string[];
    weight_names: string[];
    best_unequal: string[];
    optimizer_unequal: string[];
    state_steps: number[];
    best_equal: boolean;
    log_equal: boolean;
    log_lines: number[];
    moved_after_stop: number;
  };
  refused: Record<string, string | null>;
  recovered: { error: string | null; stderr: string; step: number; tmp_left: boolean; state_step: number };
  accumulate: Record<'frozen_bases' | 'default', Record<'2' | '4', Compared>>;
  ddp_accumulate: Compared & { ranks_agree: boolean; slots: number[][]; reductions: number[]; reductions_per_backward: number[] };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(missing !== null)(`PyTorch trainer runs${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let dir = '';
  let res: CheckTrain;
  const straight = () => path.join(dir, 'work', 'straight');

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'hnfnet-twin-train-'));
    dirs.push(dir);
    writePhantoms(path.join(dir, 'data'), [1, 2, 3], 32);
    mkdirSync(path.join(dir, 'work'));
    const r = spawnSync(PYTHON, [path.join(ROOT, 'python/tests/check_train.py'), path.join(dir, 'data'), path.join(dir, 'work')], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, OMP_NUM_THREADS: '1' },
    });
    if (r.status !== 0) throw new Error(`check_train.py failed (${r.status}):\n${r.stderr}`);
    res = JSON.parse(r.stdout) as CheckTrain;
  });

  it('stopped after 2 of 4 epochs, resumed, stopped mid-epoch, resumed: bit-identical to the 4 epochs straight', () => {
    const s = res.resume;
    expect([s.straight, s.session1, s.session2, s.session3].map((x) => [x.reason, x.step])).toEqual([
      ['finished', 8],
      ['stop-after', 4],
      ['stop-after', 5],
      ['finished', 8],
    ]);
    // One run across the sessions; weights, EM bases, Adam's moments and steps, the best
    // checkpoint and every logged loss and Dice equal the uninterrupted run's.
    expect(new Set([s.session1.run, s.session2.run, s.session3.run]).size).toBe(1);
    expect(s.weight_names).toContain('ema.mu');
    expect(s.moved_after_stop).toBeGreaterThan(1e-5);
    expect(s.weights_unequal).toEqual([]);
    expect(s.optimizer_unequal).toEqual([]);
    expect(s.best_unequal).toEqual([]);
    expect(s.best_equal).toBe(true);
    expect(s.state_steps).toEqual([8, 8]);
    expect(s.log_lines).toEqual([12, 12]); // 8 steps + 4 validations
    expect(s.log_equal).toBe(true);
  });

  it('resume refuses changed settings and torn, truncated or missing checkpoint files, naming them', () => {
    const f = res.refused;
    for (const flag of ['--epochs', '--batch', '--patch', '--model', '--accumulate']) expect(f[`changed ${flag}`]).toMatch(new RegExp(`these differ: ${flag} \\(run: `));
    expect(f['same settings given again']).toBeNull();
    expect(f['new run over a checkpoint']).toMatch(/already holds a checkpoint; pass --resume/);
    expect(f['no checkpoint']).toMatch(/empty\/last\.safetensors is missing/);
    expect(f['torn pair']).toMatch(/torn\/last\.safetensors \(run \w+, step 8\) and \S+torn\/last\.train\.pt \(run \w+, step 4\) are not from the same checkpoint/);
    expect(f['truncated state']).toMatch(/cut-state\/last\.train\.pt is not a complete training state/);
    expect(f['truncated weights']).toMatch(/cut-weights\/last\.safetensors is not a complete weights file .*truncated/);
    expect(f['missing state']).toMatch(/no-state\/last\.train\.pt is missing/);
    expect(f['missing weights']).toMatch(/no-weights\/last\.safetensors is missing/);
    expect(f['corrupt case']).toMatch(/^hnfnet_torch\.train: error: \S+bad-data\/\S+_t1\.nii\.gz: the gzip stream is cut off/);
    // Torn between the two renames: the matching state, complete in its temp file, is taken.
    expect(res.recovered).toMatchObject({ error: null, step: 8, tmp_left: false, state_step: 8 });
    expect(res.recovered.stderr).toMatch(/completed a torn pair from \S+last\.train\.pt\.tmp/);
  });

  it('--accumulate equals the full batch (float64), EM bases included; with two DDP ranks too', () => {
    // Gradients to rounding. Weight changes are Adam's first step, ≈ lr·g/(|g| + eps): where |g|
    // is within a few orders of eps it magnifies the gradients' rounding by up to ~1e5.
    for (const bases of ['frozen_bases', 'default'] as const) {
      for (const n of ['2', '4'] as const) {
        const c = res.accumulate[bases][n];
        expect(c.grad_names).toBe(true);
        expect(c.grad_rel, `${bases}, accumulate ${n}`).toBeLessThan(1e-9);
        expect(c.change_rel, `${bases}, accumulate ${n}`).toBeLessThan(2e-8);
        expect(c.mu_abs, `${bases}, accumulate ${n}`).toBeLessThan(1e-12);
      }
    }
    // The bases moved in the default configuration (once, with the whole batch's mean).
    expect(res.accumulate.default['2'].mu_moved).toBeGreaterThan(1e-2);
    // Two ranks × 2 micro-batches each equal one process with the whole batch, bases included;
    // gradients are reduced only in the last micro-batch's backward.
    const d = res.ddp_accumulate;
    expect(d.slots).toEqual([
      [0, 2],
      [1, 3],
    ]);
    expect(d.grad_names).toBe(true);
    expect(d.grad_rel).toBeLessThan(1e-9);
    expect(d.change_rel).toBeLessThan(2e-8);
    expect(d.mu_moved).toBeGreaterThan(1e-2);
    expect(d.mu_abs).toBeLessThan(1e-12);
    expect(d.ranks_agree).toBe(true);
    expect(d.reductions).toEqual(d.reductions_per_backward);
  });

  it('loader workers change nothing but speed; preprocessed cases are cached, reused, and redone when a source changes', () => {
    const l = res.loader;
    expect(l.weight_names).toBeGreaterThan(100);
    expect(l.weights_unequal).toEqual([]);
    expect(l.stderr_workers0).toMatch(/preprocessed 3 case\(s\) into \S+cache in [\d.]+ s \(0 already there\)/);
    expect(l.stderr_workers2).toMatch(/preprocessed 0 case\(s\) into \S+cache in [\d.]+ s \(3 already there\)/);
    expect(l.stderr_touched).toMatch(/preprocessed 1 case\(s\) into \S+cache in [\d.]+ s \(2 already there\)/);
  });

  it('best.safetensors loads in TS and holds the best validation of the log (scale-out.test.ts checks that Dice against TS)', async () => {
    const bytes = new Uint8Array(readFileSync(path.join(straight(), 'best.safetensors')));
    const info = readWeightsInfo(bytes, 'best.safetensors');
    const best = res.resume.straight.best!;
    expect(info).toMatchObject({ kind: 'best', preset: 'tiny', step: best.step, epoch: best.epoch, runId: res.resume.straight.run });
    const vals = parseLog(readFileSync(path.join(straight(), 'log.jsonl'), 'utf8')).filter((l): l is ValLine => l.type === 'val');
    // "Improves" as train-loop.ts: strictly above the best so far.
    let top = -Infinity;
    for (const v of vals) {
      expect(v.best, `epoch ${v.epoch}`).toBe(v.mean > top);
      top = Math.max(top, v.mean);
    }
    const last = vals.filter((v) => v.best).at(-1)!;
    const { seconds: _s, ...stored } = info.validation!;
    expect(stored).toEqual({ epoch: last.epoch, step: last.step, dice: last.dice, mean: last.mean, cases: 1 });
    expect(last.mean).toBeCloseTo((last.dice.WT + last.dice.TC + last.dice.ET) / 3, 12);
    const { model, preset } = loadModelFromWeights(bytes, 'best.safetensors', { device: await getDevice() });
    expect(preset).toBe('tiny');
    model.dispose();
  });

  it('log.jsonl is in hnfnet train’s format, and `hnfnet plot` draws it', async () => {
    const lines = parseLog(readFileSync(path.join(straight(), 'log.jsonl'), 'utf8'));
    expect(lines.map((l) => l.type)).toEqual(['start', 'step', 'step', 'val', 'step', 'step', 'val', 'step', 'step', 'val', 'step', 'step', 'val', 'stop']);
    expect(lines[0]).toMatchObject({ type: 'start', step: 0, steps_per_epoch: 2, epochs: 4, resumed: false, model: 'tiny', train_cases: 2, val_cases: 1 });
    const steps = lines.filter((l): l is StepLine => l.type === 'step');
    expect(steps.map((l) => [l.step, l.epoch])).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((s) => [s, Math.floor((s - 1) / 2)]));
    for (const l of steps) {
      expect(Object.keys(l).sort()).toEqual(['bce', 'dice_loss', 'epoch', 'live_bytes', 'loss', 'lr', 'seconds', 'step', 'type']);
      expect(l.loss).toBeCloseTo(l.dice_loss + l.bce, 5);
    }
    expect(lines.at(-1)).toMatchObject({ type: 'stop', step: 8, reason: 'finished' });
    const said: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void said.push(a.join(' ')));
    try {
      expect(await plot.run([straight(), '--no-png'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const best = res.resume.straight.best!;
    expect(said[0]).toContain(`(8 steps, 4 validations, best mean Dice ${best.mean.toFixed(4)} after epoch ${best.epoch})`);
    expect(existsSync(path.join(straight(), 'curves.svg'))).toBe(true);
    expect(readFileSync(path.join(straight(), 'curves.svg'), 'utf8')).toMatch(/^<svg/);
  });
});
