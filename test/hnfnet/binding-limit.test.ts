/**
 * The `tiny` model under a 1 MiB storage binding limit equals the unlimited run: forward,
 * every parameter's gradient and the parameters after one Adam step. At 64³ its tensors
 * (4–56 channels at full and half scale, the EM unit's 56 × 32³ input) are 1–7 MiB, so every
 * split path of the model family runs: conv3d channel blocks, instance-norm plane blocks,
 * interpolation, concatenation, GAP, EM voxel slabs, the losses and Adam.
 */
import { describe, expect, it } from 'vitest';
import { backward, Device, tensor, type Tensor } from '../../src/index.js';
import { Adam } from '../../src/nn/index.js';
import { buildModel } from '../../src/hnfnet/index.js';
import { segmentationLoss } from '../../src/train/index.js';
import { randArray, unlimitedDevice } from '../helpers.js';

const SIDE = 64;
const LIMIT = 1 << 20;

interface Run {
  logits: Float32Array;
  loss: number;
  grads: Map<string, Float32Array>;
  after: Map<string, Float32Array>;
  dispatches: number;
}

async function trainStep(device: Device): Promise<Run> {
  const S = SIDE ** 3;
  const x = tensor(randArray(4 * S, 1, -2, 2), [1, 4, SIDE, SIDE, SIDE], { device });
  const t = tensor(
    randArray(3 * S, 2).map((v) => (v > 0.3 ? 1 : 0)),
    [1, 3, SIDE, SIDE, SIDE],
    { device },
  );
  const model = buildModel('tiny', { device, seed: 0 }).train();
  const opt = new Adam(model, { lr: 1e-2 });
  const before = device.dispatches;
  const logits = model.call(x);
  const parts = segmentationLoss(logits, t);
  const run: Run = { logits: await logits.data(), loss: await parts.loss.item(), grads: new Map(), after: new Map(), dispatches: 0 };
  backward(parts.loss);
  for (const [name, p] of model.namedParameters()) if (p.grad) run.grads.set(name, await p.grad.data());
  opt.step();
  for (const [name, p] of model.namedParameters()) run.after.set(name, await p.data());
  run.dispatches = device.dispatches - before;
  for (const v of Object.values(parts) as Tensor[]) v.dispose();
  logits.dispose();
  opt.dispose();
  model.dispose();
  x.dispose();
  t.dispose();
  return run;
}

/** Largest |a − b| over the largest |b|: the twin equivalence test's measure (max_abs_diff / scale). */
function relToScale(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return d / scale;
}

/** Largest |a − b| / (1 + |b|) over all elements. */
function worst(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return w;
}

/**
 * `worst` over the elements whose gradient is well above Adam's eps (1e-8) and agrees to 0.1%
 * on both runs. Adam's first step moves a parameter by lr·g/(|g| + eps), ±lr for any |g| ≫ eps,
 * so a gradient that is rounding noise (a conv bias ahead of an instance norm has an exact
 * gradient of 0) steps anywhere in
 * (−lr, lr) under another summation order: those elements say nothing about the split kernels.
 * The gradients themselves are compared in full above.
 */
function worstDetermined(a: Float32Array, b: Float32Array, gn: Float32Array | undefined, gw: Float32Array | undefined, counted: { n: number; of: number }): number {
  if (!gn || !gw) return worst(a, b);
  let w = 0;
  counted.of += a.length;
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(gw[i]!) < 1e-6 || Math.abs(gn[i]! - gw[i]!) > 1e-3 * Math.abs(gw[i]!)) continue;
    counted.n++;
    w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  }
  return w;
}

describe('tiny under a 1 MiB binding limit', () => {
  it('forward, gradients and one Adam step equal the unlimited run', async () => {
    const wide = await unlimitedDevice();
    const narrow = await Device.create({ limits: { maxStorageBufferBindingSize: LIMIT } });
    const w = await trainStep(wide);
    const n = await trainStep(narrow);
    expect(n.dispatches).toBeGreaterThan(w.dispatches);
    const counted = { n: 0, of: 0 };
    const diffs = {
      logits: worst(n.logits, w.logits),
      logitsToScale: relToScale(n.logits, w.logits),
      loss: Math.abs(n.loss - w.loss),
      grads: Math.max(...[...w.grads].map(([k, g]) => worst(n.grads.get(k)!, g))),
      params: Math.max(...[...w.after].map(([k, p]) => worstDetermined(n.after.get(k)!, p, n.grads.get(k), w.grads.get(k), counted))),
    };
    console.log(`tiny ${SIDE}³ under ${LIMIT} B bindings: ${n.dispatches} dispatches (unlimited ${w.dispatches}); largest differences ${JSON.stringify(diffs)}; Adam step compared on ${counted.n} of ${counted.of} parameters`);
    expect(n.grads.size).toBe(w.grads.size);
    // Measured 2.6e-5 (3.8e-6 of the range): conv3d sums over input-channel blocks and EM attention over voxel slabs
    // in another order, and the instance norms that follow scale those roundings up.
    expect(diffs.logits).toBeLessThan(5e-5);
    // Relative to the logits' range, as the twin comparison measures: the issue's 1e-5.
    expect(diffs.logitsToScale).toBeLessThan(1e-5);
    expect(diffs.loss).toBeLessThan(1e-5);
    expect(diffs.grads).toBeLessThan(1e-5);
    expect(diffs.params).toBeLessThan(1e-5);
    expect(counted.n, 'parameters with a gradient clear of rounding').toBeGreaterThan(counted.of / 2);
    wide.destroy();
    narrow.destroy();
  }, 600_000);
});
