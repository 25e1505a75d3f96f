/**
 * The TS half of the PyTorch-twin equivalence check (python/tests/check_equivalence.py is
 * the other half). Builds a model from a preset and seed and writes to a folder:
 *   weights.safetensors  saveWeights (config + preset metadata), before any forward;
 *   case.safetensors     input [1, 4, S³], target [1, 3, S³], eval-mode `output`; with
 *                        `grads`, one training-mode step's loss, dice, bce, every
 *                        parameter gradient (`grad.<name>`) and the updated EM bases.
 * Usable as a module (the vitest test) or a script:
 *   npx tsx test/twin/export.ts <preset> <seed> <size> <outDir> [grads] [jitter]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  backward,
  buildModel,
  encodeSafetensors,
  init,
  noGrad,
  randn,
  saveWeights,
  segmentationLoss,
  nativeOutputs,
  tensor,
  tidy,
  HNFNet,
  Generator,
  type Device,
  type SafeTensor,
} from '../../src/index.js';
import { bytesToF32, decodeSafetensors, f32Bytes } from '../../src/nn/safetensors.js';
import { loadStateDict } from '../../src/nn/state-dict.js';

export interface ExportOptions {
  preset: string;
  seed: number;
  size: number;
  grads: boolean;
  /**
   * Std of a seeded perturbation added to every 1-D parameter (biases, norm scales and
   * shifts) before export. At initialisation every SE's pooled input is a norm shift, 0, and
   * its hidden pre-activations are float noise at ReLU's kink, so two correct
   * implementations disagree there on which side of 0 they are; moving off the kink makes
   * the gradient comparison meaningful.
   */
  jitter?: number;
}

export interface ExportTimings {
  forwardMs: number;
  stepMs: number;
  /** Peak live GPU bytes of the eval forward (weights and input included). */
  forwardPeakBytes: number;
}

const f32 = (data: Float32Array, shape: readonly number[]): SafeTensor => ({ dtype: 'F32', shape: [...shape], bytes: f32Bytes(data) });

/**
 * Region targets derived from the input by thresholds, nested like WT ⊇ TC ⊇ ET, so the
 * Dice weights and the BCE see non-trivial, input-correlated masks.
 */
function regionTarget(x: Float32Array, voxels: number): Float32Array {
  const t = new Float32Array(3 * voxels);
  for (let v = 0; v < voxels; v++) {
    const a = x[v]! + 0.5 * x[voxels + v]!;
    t[v] = a > 0 ? 1 : 0;
    t[voxels + v] = a > 0.6 ? 1 : 0;
    t[2 * voxels + v] = a > 1.2 ? 1 : 0;
  }
  return t;
}

export async function exportCase(device: Device, opts: ExportOptions, outDir: string): Promise<ExportTimings> {
  mkdirSync(outDir, { recursive: true });
  const model = buildModel(opts.preset, { device, seed: opts.seed });
  if (opts.jitter) {
    const { tensors, metadata } = decodeSafetensors(await saveWeights(model, model.config, opts.preset));
    const g = new Generator(opts.seed + 7);
    for (const [name, t] of [...tensors].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (t.shape.length !== 1 || name === 'ema.mu') continue;
      const v = bytesToF32(t.bytes);
      for (let i = 0; i < v.length; i++) v[i]! += opts.jitter * g.normal();
      tensors.set(name, { ...t, bytes: f32Bytes(v) });
    }
    loadStateDict(model, encodeSafetensors(tensors, metadata));
  }
  writeFileSync(path.join(outDir, 'weights.safetensors'), await saveWeights(model, model.config, opts.preset));

  const S = opts.size;
  const shape = [1, 4, S, S, S];
  const x = randn(shape, { seed: opts.seed + 1000, device });
  const xd = await x.data();
  const voxels = S ** 3;
  const td = regionTarget(xd, voxels);
  const out = new Map<string, SafeTensor>([
    ['input', f32(xd, shape)],
    ['target', f32(td, [1, 3, S, S, S])],
  ]);

  model.eval();
  device.resetPeakMemory();
  let t0 = performance.now();
  const y = noGrad(() => tidy(() => model.call(x)));
  out.set('output', f32(await y.data(), y.shape));
  const forwardMs = performance.now() - t0;
  const forwardPeakBytes = device.memoryStats().peakBytes;
  y.dispose();

  let stepMs = 0;
  if (opts.grads) {
    if (!(model instanceof HNFNet)) throw new Error('the gradient export covers HNF-Net configs (it records the EM bases)');
    // Training mode: the forward also moves the EM bases, which the twin must reproduce.
    model.train();
    t0 = performance.now();
    const target = tensor(td, [1, 3, S, S, S], { device });
    // The trainer's own path: a model with inputStride 2 takes its loss at half resolution.
    const { loss, dice, bce } = tidy(() => segmentationLoss(...nativeOutputs(model, x, target)));
    backward(loss);
    for (const [name, t] of [['loss', loss], ['dice', dice], ['bce', bce]] as const) {
      out.set(name, f32(await t.data(), []));
      t.dispose();
    }
    for (const [name, p] of model.namedParameters()) {
      if (p.grad) out.set(`grad.${name}`, f32(await p.grad.data(), p.shape));
    }
    const bases = model.ema.bases;
    out.set('mu_after', f32(await bases.data(), bases.shape));
    stepMs = performance.now() - t0;
    target.dispose();
  }
  x.dispose();
  model.dispose();
  writeFileSync(path.join(outDir, 'case.safetensors'), encodeSafetensors(out, { preset: opts.preset, seed: String(opts.seed) }));
  return { forwardMs, stepMs, forwardPeakBytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [preset, seed, size, outDir, grads, jitter] = process.argv.slice(2);
  if (!preset || !seed || !size || !outDir) {
    console.error('usage: tsx test/twin/export.ts <preset> <seed> <size> <outDir> [grads]');
    process.exit(2);
  }
  const device = await init();
  const t = await exportCase(device, { preset, seed: Number(seed), size: Number(size), grads: grads === 'grads', jitter: Number(jitter ?? 0) }, outDir);
  console.log(JSON.stringify(t));
  process.exit(0);
}
