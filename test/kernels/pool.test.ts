import { beforeAll, describe, expect, it } from 'vitest';
import { backward, globalAvgPool3d, mul, planeChunks, ShapeError, tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray } from './../helpers.js';

function planeMeans(x: ArrayLike<number>, planes: number, s: number): Float64Array {
  const m = new Float64Array(planes);
  for (let p = 0; p < planes; p++) {
    let a = 0;
    for (let i = 0; i < s; i++) a += x[p * s + i]!;
    m[p] = a / s;
  }
  return m;
}

beforeAll(async () => {
  await getDevice();
});

describe('globalAvgPool3d', () => {
  for (const shape of [
    [2, 5, 4, 6, 3],
    [1, 1, 1, 1, 1],
    [2, 3, 1, 7, 1],
    [1, 2, 33, 31, 17],
    [2, 3, 4, 4, 4],
    [1, 2, 32, 32, 16],
  ]) {
    it(`averages each plane of ${JSON.stringify(shape)} and spreads g/(DHW) back`, async () => {
      const [N, C] = shape as [number, number];
      const s = shape[2]! * shape[3]! * shape[4]!;
      const xd = randArray(N * C * s, s, -1, 2);
      const x = tensor(xd, shape, { requiresGrad: true });
      const y = globalAvgPool3d(x);
      expect(y.shape).toEqual([N, C, 1, 1, 1]);
      expectClose(await y.data(), planeMeans(xd, N * C, s), 1e-5, 1e-6, 'mean');
      const gd = randArray(N * C, 3);
      const g = tensor(gd, y.shape);
      backward(y, g);
      const want = Float64Array.from({ length: xd.length }, (_, i) => gd[Math.floor(i / s)]! / s);
      expectClose(await x.grad!.data(), want, 1e-6, 1e-7, 'dx');
      x.zeroGrad();
      [x, y, g].forEach((t) => t.dispose());
    });
  }

  it('uses several chunks per plane when planes are few and long', () => {
    expect(planeChunks(2, 33 * 31 * 17)).toBeGreaterThan(1);
    expect(planeChunks(64, 1)).toBe(1);
  });

  it('agrees with finite differences', async () => {
    await gradCheck(([x]) => globalAvgPool3d(x!), [{ data: randArray(2 * 3 * 2 * 3 * 2, 4), shape: [2, 3, 2, 3, 2] }]);
  });

  it('with the broadcasting mul (SDE re-weighting) matches the float64 reference, forward and backward', async () => {
    // y = x · gap(x) — x [N, C, D, H, W] times its own [N, C, 1, 1, 1] squeeze, as the SDE
    // blocks do (there through convolutions and a sigmoid); the gradient reaches x both ways.
    const shape = [2, 3, 3, 4, 5];
    const s = 60;
    const xd = randArray(2 * 3 * s, 21);
    const gd = randArray(2 * 3 * s, 22);
    const x = tensor(xd, shape, { requiresGrad: true });
    const m = globalAvgPool3d(x);
    const y = mul(x, m);
    const means = planeMeans(xd, 6, s);
    expectClose(await y.data(), Float64Array.from(xd, (v, i) => v * means[Math.floor(i / s)]!), 1e-5, 1e-6, 'y');
    const g = tensor(gd, shape);
    backward(y, g);
    // dy/dx_i = g_i·m_p + Σ_j g_j·x_j / S over the plane p of i.
    const gx = planeMeans(Float64Array.from(gd, (v, i) => v * xd[i]!), 6, s);
    const want = Float64Array.from(xd, (_, i) => gd[i]! * means[Math.floor(i / s)]! + gx[Math.floor(i / s)]!);
    expectClose(await x.grad!.data(), want, 1e-5, 1e-6, 'dx');
    x.zeroGrad();
    [x, m, y, g].forEach((t) => t.dispose());
  });

  it('the broadcasting mul alone: gradient of the [N, C, 1, 1, 1] factor sums over the voxels', async () => {
    const a = randArray(2 * 3 * 24, 31);
    const b = randArray(6, 32);
    await gradCheck(([p, q]) => mul(p!, q!), [
      { data: a, shape: [2, 3, 2, 3, 4] },
      { data: b, shape: [2, 3, 1, 1, 1] },
    ]);
  });

  it('rejects non-5-D inputs with an error that names the shape', () => {
    const x = tensor(new Float32Array(8), [2, 2, 2]);
    expect(() => globalAvgPool3d(x)).toThrow(ShapeError);
    expect(() => globalAvgPool3d(x)).toThrow(/\[2, 2, 2\]/);
    x.dispose();
  });
});
