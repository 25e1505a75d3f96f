/**
 * The PyTorch twin (python/hnfnet_torch) against the TS model: the same weights file, the
 * same input, eval-mode outputs and one training step's loss, gradients and EM bases.
 * Needs Debian's python3-torch (scripts/setup.sh installs it as root); skipped without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, decodeSafetensors, loadModelFromWeights, PRESET_NAMES, saveWeights } from '../../src/index.js';
import { getDevice } from '../helpers.js';
import { PYTHON, ROOT, torchMissing } from './python.js';
import { exportCase, type ExportOptions } from './export.js';

const CHECK = path.join(ROOT, 'python/tests/check_equivalence.py');
const CHECK_LOAD = path.join(ROOT, 'python/tests/check_load.py');

const missing = torchMissing();

interface Diff {
  max_abs_diff: number;
  scale: number;
}
interface CheckResult {
  forward: Diff & { seconds: number };
  loss?: Record<'loss' | 'dice' | 'bce', { twin: number; ts: number }>;
  grads?: Record<string, Diff | { twin_has_grad: boolean; ts_has_grad: boolean }>;
  unmatched_grad_names?: string[];
  mu_after?: Diff;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function runCase(opts: ExportOptions): Promise<CheckResult> {
  const dir = mkdtempSync(path.join(tmpdir(), `hnfnet-twin-${opts.preset}-`));
  dirs.push(dir);
  const device = await getDevice();
  await exportCase(device, opts, dir);
  // On a CPU adapter GPU memory is host memory: hand the pooled buffers back before the twin
  // runs beside this process (at 128³ they are gigabytes, and the float64 twin needs ~18 GB).
  device.trimPool();
  const r = spawnSync(PYTHON, [CHECK, dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // A signal and no status: killed, most often by the kernel's OOM killer (the 128³ case needs ~18 GB).
  if (r.status !== 0) throw new Error(`check_equivalence.py failed (${r.status ?? `killed by ${r.signal}`}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as CheckResult;
}

function checkStep(r: CheckResult, label: string, gradTol = 1e-4): void {
  expect(r.forward.max_abs_diff).toBeLessThanOrEqual(1e-4 * r.forward.scale);

  for (const [k, v] of Object.entries(r.loss!)) expect(Math.abs(v.twin - v.ts), k).toBeLessThanOrEqual(1e-5 * Math.abs(v.twin));
  expect(r.unmatched_grad_names).toEqual([]);
  const grads = Object.entries(r.grads!);
  // EMANet's stop-gradient: the 1×1 conv feeding only the EM iterations trains on neither side.
  const absent = Object.fromEntries(grads.filter(([, g]) => !('scale' in g)));
  expect(absent).toEqual({
    'ema.conv1.bias': { twin_has_grad: false, ts_has_grad: false },
    'ema.conv1.weight': { twin_has_grad: false, ts_has_grad: false },
  });
  const present = grads.filter((e): e is [string, Diff] => 'scale' in e[1]);
  expect(present.length).toBeGreaterThan(200);
  // Each gradient within 1e-4 of its own scale, plus a float32 floor at 1e-6 of the largest
  // gradient for the few that are nearly zero next to the rest.
  const top = Math.max(...present.map(([, g]) => g.scale));
  for (const [name, g] of present) expect(g.max_abs_diff, name).toBeLessThanOrEqual(gradTol * g.scale + 1e-6 * top);
  expect(r.mu_after!.max_abs_diff).toBeLessThanOrEqual(1e-5 * r.mu_after!.scale);
  const worst = present.reduce((a, b) => (b[1].max_abs_diff / b[1].scale > a[1].max_abs_diff / a[1].scale ? b : a));
  const lossDiff = Math.max(...Object.values(r.loss!).map((v) => Math.abs(v.twin - v.ts)));
  console.log(
    `[twin equivalence] ${label}: forward max |Δ| ${r.forward.max_abs_diff.toExponential(2)} at output scale ${r.forward.scale.toFixed(2)}; ` +
      `loss terms within ${lossDiff.toExponential(2)}; worst gradient ${worst[0]} ${(worst[1].max_abs_diff / worst[1].scale).toExponential(2)} of its scale; ` +
      `EM bases ${r.mu_after!.max_abs_diff.toExponential(2)}`,
  );
}

describe.skipIf(missing !== null)(`PyTorch twin equivalence${missing ? ` (skipped: ${missing})` : ''}`, () => {
  // The twin moves tensors with the `safetensors` package where installed, else its own reader/writer;
  // the package is not installable here, so a stand-in with its API (python/tests/stand_ins) takes its place.
  it.each([
    ['every preset', 'its own reader and writer', 'builtin', PRESET_NAMES, {}],
    ['tiny and hnfnetv2', 'the safetensors package API', 'safetensors', ['tiny', 'hnfnetv2'], { PYTHONPATH: path.join(ROOT, 'python/tests/stand_ins') }],
  ] as const)('%s, through %s: TS weights load strictly into the twin, and the twin’s files load strictly back, bit for bit', async (_, __, backend, presets, env) => {
    const device = await getDevice();
    const dir = mkdtempSync(path.join(tmpdir(), 'hnfnet-twin-presets-'));
    dirs.push(dir);
    const files: string[] = [];
    for (const preset of presets) {
      const model = buildModel(preset, { device, seed: 1 });
      const f = path.join(dir, `${preset}.safetensors`);
      writeFileSync(f, await saveWeights(model, model.config, preset));
      model.dispose();
      files.push(f);
    }
    const r = spawnSync(PYTHON, [CHECK_LOAD, ...files], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`check_load.py failed (${r.status}):\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { backend: string; calls: Record<'save' | 'load', number> | null; files: Record<string, { tensors: number; preset: string }> };
    expect(out.backend).toBe(backend);
    if (backend === 'safetensors') expect(out.calls).toEqual({ save: files.length, load: files.length });
    const loaded = out.files;
    for (const [i, f] of files.entries()) {
      expect(loaded[f]!.preset).toBe(presets[i]);
      const twinBytes = readFileSync(`${f}.twin.safetensors`);
      // The TS loader takes the twin's file strictly (every name and shape), as `hnfnet infer` would.
      const { model } = loadModelFromWeights(twinBytes, `${f}.twin.safetensors`, { device });
      expect(model.stateDict().size).toBe(loaded[f]!.tensors);
      model.dispose();
      // And the values made the round trip bit for bit.
      const ours = decodeSafetensors(readFileSync(f)).tensors;
      const twin = decodeSafetensors(twinBytes);
      expect([...twin.tensors.keys()].sort()).toEqual([...ours.keys()].sort());
      for (const [name, t] of ours) {
        const u = twin.tensors.get(name)!;
        expect([u.dtype, u.shape], name).toEqual([t.dtype, t.shape]);
        expect(Buffer.compare(Buffer.from(u.bytes), Buffer.from(t.bytes)), name).toBe(0);
      }
      expect(twin.metadata.hnfnet_preset).toBe(presets[i]);
      expect(JSON.parse(twin.metadata.hnfnet_config!)).toEqual(JSON.parse(decodeSafetensors(readFileSync(f)).metadata.hnfnet_config!));
    }
  }, 300_000);

  it('tiny at 32³: eval forward, and one training step (loss, every gradient, EM bases, stop-gradient)', async () => {
    checkStep(await runCase({ preset: 'tiny', seed: 3, size: 32, grads: true, jitter: 0.1 }), 'tiny 32³');
  });

  // Half resolution inside: the mean-pooled input, logits brought back up, and the training loss at half resolution.
  it('hnfnetv2-web at 64³: eval forward, and one training step at its own resolution', async () => {
    // 1e-3 of each gradient's scale: the stem's weight gradient sums products over every voxel of
    // the pooled 32³ grid, and the two sides add them in other orders (one run: that tensor at
    // twice the 1e-4 bound, every other gradient within it).
    checkStep(await runCase({ preset: 'hnfnetv2-web', seed: 6, size: 64, grads: true, jitter: 0.1 }), 'hnfnetv2-web 64³', 1e-3);
  }, 300_000);

  it('tiny at 64³: eval forward', async () => {
    const r = await runCase({ preset: 'tiny', seed: 4, size: 64, grads: false, jitter: 0.1 });
    console.log(`[twin equivalence] tiny 64³: max |Δ| ${r.forward.max_abs_diff.toExponential(2)} at output scale ${r.forward.scale.toFixed(2)}`);
    expect(r.forward.max_abs_diff).toBeLessThanOrEqual(1e-4 * r.forward.scale);
  });

  const fullWidth = (size: number) => async () => {
    const r = await runCase({ preset: 'hnfnetv2', seed: 5, size, grads: false });
    console.log(`[twin equivalence] hnfnetv2 ${size}³: max |Δ| ${r.forward.max_abs_diff.toExponential(2)} at output scale ${r.forward.scale.toFixed(2)} (twin ${r.forward.seconds.toFixed(1)} s)`);
    expect(r.forward.max_abs_diff).toBeLessThanOrEqual(1e-4 * r.forward.scale);
  };
  for (const size of [32, 64]) it(`hnfnetv2 (full width) at ${size}³: eval forward`, fullWidth(size), 300_000);
  // The paper's window, on demand (HNFNET_TWIN_128=1): the float64 twin's im2col convolutions
  // need ~18 GB of host memory and ~10 min beside hnfnet's ~3 min on lavapipe, too much for CI.
  const paper = process.env.HNFNET_TWIN_128 ? (totalmem() >= 20 * 2 ** 30 ? null : `${(totalmem() / 2 ** 30).toFixed(0)} GiB of memory, the float64 twin needs ~18`) : 'set HNFNET_TWIN_128=1';
  it.skipIf(paper !== null)(`hnfnetv2 (full width) at 128³: eval forward${paper ? ` (skipped: ${paper})` : ''}`, fullWidth(128), 2_400_000);
});
