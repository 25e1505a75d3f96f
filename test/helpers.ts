/**
 * Shared test helpers: the device, seeded random host arrays, closeness checks and a
 * finite-difference gradient check that every kernel's backward is tested with.
 */
import { expect } from 'vitest';
import { backward, init, noGrad, tensor, tidy, Device, Generator, type Tensor, numel } from '../src/index.js';

let device: Promise<Device> | null = null;

/** One device per test process (vitest runs each file in its own process). */
export function getDevice(): Promise<Device> {
  if (!device) device = init();
  return device;
}

/**
 * A device at the adapter's own limits even when HNFNET_MAX_BINDING / HNFNET_MAX_BUFFER lower
 * them for the suite (`npm run test:small-binding`): the reference side of a limited-vs-unlimited
 * comparison, and tests of a single plane's numerics that no split can serve.
 */
export async function unlimitedDevice(): Promise<Device> {
  const saved = { binding: process.env.HNFNET_MAX_BINDING, buffer: process.env.HNFNET_MAX_BUFFER };
  delete process.env.HNFNET_MAX_BINDING;
  delete process.env.HNFNET_MAX_BUFFER;
  try {
    return await Device.create();
  } finally {
    if (saved.binding !== undefined) process.env.HNFNET_MAX_BINDING = saved.binding;
    if (saved.buffer !== undefined) process.env.HNFNET_MAX_BUFFER = saved.buffer;
  }
}

export function randArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const g = new Generator(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * g.uniform();
  return a;
}

export function randShape(g: Generator, rank: number, max = 5): number[] {
  return Array.from({ length: rank }, () => 1 + Math.floor(g.uniform() * max));
}

/** Asserts |got − want| ≤ atol + rtol·|want| everywhere, reporting the worst element. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-5, what = 'value'): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i]! - want[i]!) - (atol + rtol * Math.abs(want[i]!));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}[${worst}] = ${got[worst]}, expected ${want[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

export interface GradCheckOptions {
  /** Finite-difference step. */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** Elements perturbed per input (spread over the tensor). */
  samples?: number;
  /** Inputs (by index) that get no gradient check. */
  skip?: number[];
  seed?: number;
}

/**
 * Checks the analytic gradient of Σ fn(xs)·w (w random) against central differences,
 * computed on the GPU in float32 and summed on the host in float64.
 */
export async function gradCheck(
  fn: (xs: Tensor[]) => Tensor,
  inputs: { data: Float32Array; shape: number[] }[],
  opts: GradCheckOptions = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 2e-3;
  const samples = opts.samples ?? 12;
  const skip = new Set(opts.skip ?? []);
  const xs = inputs.map((x, i) => tensor(x.data, x.shape, { requiresGrad: !skip.has(i) }));
  const y0 = fn(xs);
  const w = randArray(y0.size, (opts.seed ?? 7) + 1000);
  const wt = tensor(w, y0.shape);
  backward(y0, wt);
  const analytic = await Promise.all(xs.map(async (x, i) => (skip.has(i) ? null : x.grad ? await x.grad.data() : new Float32Array(x.size))));
  y0.dispose();
  wt.dispose();
  const objective = async (vals: Float32Array[]): Promise<number> => {
    const ts = vals.map((v, i) => tensor(v, inputs[i]!.shape));
    const y = noGrad(() => tidy(() => fn(ts)));
    const d = await y.data();
    y.dispose();
    ts.forEach((t) => t.dispose());
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]! * w[i]!;
    return s;
  };
  const g = new Generator(opts.seed ?? 7);
  for (let i = 0; i < inputs.length; i++) {
    if (skip.has(i)) continue;
    const n = numel(inputs[i]!.shape);
    const picks = n <= samples ? [...Array(n).keys()] : Array.from({ length: samples }, () => Math.floor(g.uniform() * n));
    for (const p of picks) {
      const plus = inputs.map((x) => x.data.slice());
      const minus = inputs.map((x) => x.data.slice());
      plus[i]![p]! += eps;
      minus[i]![p]! -= eps;
      const num = ((await objective(plus)) - (await objective(minus))) / (2 * eps);
      const an = analytic[i]![p]!;
      if (!(Math.abs(num - an) <= atol + rtol * Math.abs(num))) {
        expect.fail(`gradient of input ${i} at element ${p}: analytic ${an}, finite difference ${num}`);
      }
    }
  }
  xs.forEach((x) => {
    x.zeroGrad();
    x.dispose();
  });
}

/** Row-major strides and index helpers for host references. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}
