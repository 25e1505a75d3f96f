import { beforeAll, describe, expect, it } from 'vitest';
import { backward, instanceNorm3d, instanceNormStats, Generator, ShapeError, tensor, type Device, type Tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray, unlimitedDevice } from './../helpers.js';
import { reference } from './instance-norm-ref.js';

async function run(shape: number[], opts: { weight: boolean; bias: boolean; eps?: number; seed: number; xdata?: Float32Array; tol?: number; device?: Device }): Promise<void> {
  const C = shape[1]!;
  const n = shape.reduce((a, d) => a * d, 1);
  const eps = opts.eps ?? 1e-5;
  const xd = opts.xdata ?? randArray(n, opts.seed, -2, 3);
  const wd = randArray(C, opts.seed + 1, 0.5, 1.5);
  const bd = randArray(C, opts.seed + 2);
  const gd = randArray(n, opts.seed + 3);
  const device = opts.device;
  const x = tensor(xd, shape, { requiresGrad: true, device });
  const w = opts.weight ? tensor(wd, [C], { requiresGrad: true, device }) : null;
  const b = opts.bias ? tensor(bd, [C], { requiresGrad: true, device }) : null;
  const y = instanceNorm3d(x, w, b, eps);
  const ref = reference(xd, shape, w ? wd : null, b ? bd : null, gd, eps);
  const tol = opts.tol ?? 1e-5;
  expectClose(await y.data(), ref.y, tol, tol, 'y');
  const g = tensor(gd, shape, { device });
  backward(y, g);
  expectClose(await x.grad!.data(), ref.dx, tol, tol, 'dx');
  if (w) expectClose(await w.grad!.data(), ref.dw, tol, tol, 'dweight');
  if (b) expectClose(await b.grad!.data(), ref.db, tol, tol, 'dbias');
  for (const t of [x, w, b, y, g] as (Tensor | null)[]) {
    t?.zeroGrad();
    t?.dispose();
  }
}

beforeAll(async () => {
  await getDevice();
});

describe('instanceNorm3d', () => {
  it('matches the float64 reference with weight and bias (batch 2, odd sizes)', async () => {
    await run([2, 3, 5, 6, 7], { weight: true, bias: true, seed: 1 });
  });

  it('takes weight and bias independently, or neither', async () => {
    await run([2, 2, 3, 1, 5], { weight: false, bias: false, seed: 2 });
    await run([1, 3, 4, 3, 2], { weight: true, bias: false, seed: 3 });
    await run([2, 1, 1, 3, 1], { weight: false, bias: true, seed: 4 });
  });

  it('takes the vectorised paths when planes hold multiples of 4 and 16 voxels', async () => {
    await run([2, 3, 4, 4, 2], { weight: true, bias: true, seed: 13 });
    await run([2, 2, 2, 4, 2], { weight: false, bias: false, seed: 14 });
    await run([1, 2, 3, 2, 2], { weight: true, bias: false, seed: 15 });
    await gradCheck(([x, w, b]) => instanceNorm3d(x!, w!, b!), [
      { data: randArray(2 * 2 * 16, 16), shape: [2, 2, 2, 2, 4] },
      { data: randArray(2, 17, 0.5, 1.5), shape: [2] },
      { data: randArray(2, 18), shape: [2] },
    ]);
  });

  it('handles one-voxel planes (y = bias) and a larger eps', async () => {
    await run([2, 2, 1, 1, 1], { weight: true, bias: true, seed: 5 });
    await run([1, 2, 2, 3, 2], { weight: true, bias: true, eps: 0.5, seed: 6 });
  });

  it('splits long planes into chunks (single channel, 40·33·29 voxels)', async () => {
    await run([1, 1, 40, 33, 29], { weight: true, bias: true, seed: 7, tol: 2e-5 });
  });

  it('agrees with finite differences for x, weight and bias', async () => {
    const shape = [2, 2, 3, 2, 3];
    await gradCheck(
      ([x, w, b]) => instanceNorm3d(x!, w!, b!),
      [
        { data: randArray(72, 8), shape },
        { data: randArray(2, 9, 0.5, 1.5), shape: [2] },
        { data: randArray(2, 10), shape: [2] },
      ],
      { eps: 1e-2, rtol: 3e-2, atol: 3e-3 },
    );
  });

  it('stays accurate on 128³ planes with means around 1e4 and a spread of 0.1', async () => {
    // Channel 0: 1e4 + U(−0.05, 0.05); channel 1: −2.5e4 + 0.1·N(0, 1), with an outlying first
    // voxel (the pivot of the shift). An f32 mean alone is only good to ~1e-3 at these values.
    const S = 128 ** 3;
    const gen = new Generator(11);
    const xd = new Float32Array(2 * S);
    for (let i = 0; i < S; i++) xd[i] = 1e4 + (gen.uniform() - 0.5) * 0.1;
    for (let i = 0; i < S; i++) xd[S + i] = -2.5e4 + 0.1 * gen.normal();
    xd[S] = -2.5e4 + 0.6;
    // One 8 MiB plane: no split serves a single plane's statistics, so this numerics check runs
    // at the adapter's own binding limit even in the small-binding suite.
    const device = await unlimitedDevice();
    const x = tensor(xd, [1, 2, 128, 128, 128], { device });
    const stats = await instanceNormStats(x).data();
    const ref = reference(xd, [1, 2, 128, 128, 128], null, null, new Float32Array(2 * S), 1e-5);
    for (let p = 0; p < 2; p++) {
      expect(Math.abs(stats[4 * p]! + stats[4 * p + 1]! - ref.mean[p]!)).toBeLessThan(1e-4 * Math.sqrt(ref.variance[p]!));
      expect(stats[4 * p + 3]! / ref.variance[p]! - 1).toBeLessThan(1e-4);
    }
    x.dispose();
    await run([1, 2, 128, 128, 128], { weight: true, bias: true, seed: 12, xdata: xd, tol: 1e-4, device });
    device.destroy();
  });

  it('rejects bad shapes and arguments with errors that name them', () => {
    const x4 = tensor(new Float32Array(24), [2, 3, 2, 2]);
    const x = tensor(new Float32Array(24), [1, 3, 2, 2, 2]);
    const w2 = tensor([1, 1], [2]);
    expect(() => instanceNorm3d(x4)).toThrow(ShapeError);
    expect(() => instanceNorm3d(x4)).toThrow(/\[2, 3, 2, 2\]/);
    expect(() => instanceNorm3d(x, w2)).toThrow(/weight \[2\] should be \[3\] for input \[1, 3, 2, 2, 2\]/);
    expect(() => instanceNorm3d(x, null, w2)).toThrow(/bias \[2\]/);
    expect(() => instanceNorm3d(x, null, null, -1)).toThrow(/eps/);
    [x4, x, w2].forEach((t) => t.dispose());
  });
});
