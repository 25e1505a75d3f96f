import { beforeAll, describe, expect, it } from 'vitest';
import { backward, interpolate, interpolateBackward, ShapeError, tensor, type InterpolateOptions } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray } from './../helpers.js';

/**
 * Host reference in float64, written from PyTorch's definition (upsample_trilinear3d on
 * the CPU) independently of the kernel: the scale rule, the clamped half-pixel source
 * coordinate, the copy of same-size axes, and a backward that scatters like PyTorch's.
 */
interface RefOpts {
  out: number[];
  align: boolean;
  /** Scale factors PyTorch keeps for the coordinate mapping (recompute_scale_factor unset). */
  factors?: number[];
}

function axisTaps(nin: number, nout: number, align: boolean, factor: number | undefined): { i0: number; i1: number; l0: number; l1: number }[] {
  const scale = align ? (nout > 1 ? (nin - 1) / (nout - 1) : 0) : factor !== undefined ? 1 / factor : nin / nout;
  return Array.from({ length: nout }, (_, o) => {
    if (nin === nout) return { i0: o, i1: o, l0: 1, l1: 0 };
    const src = align ? scale * o : Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), nin - 1);
    const l1 = Math.min(Math.max(src - i0, 0), 1);
    return { i0, i1: i0 < nin - 1 ? i0 + 1 : i0, l0: 1 - l1, l1 };
  });
}

function refForward(x: Float32Array, shape: number[], o: RefOpts): Float64Array {
  const [N, C, D, H, W] = shape as [number, number, number, number, number];
  const [OD, OH, OW] = o.out as [number, number, number];
  const td = axisTaps(D, OD, o.align, o.factors?.[0]);
  const th = axisTaps(H, OH, o.align, o.factors?.[1]);
  const tw = axisTaps(W, OW, o.align, o.factors?.[2]);
  const y = new Float64Array(N * C * OD * OH * OW);
  let k = 0;
  for (let p = 0; p < N * C; p++) {
    const at = (d: number, h: number, w: number) => x[((p * D + d) * H + h) * W + w]!;
    for (const a of td)
      for (const b of th)
        for (const c of tw) {
          const row = (d: number, h: number) => c.l0 * at(d, h, c.i0) + c.l1 * at(d, h, c.i1);
          y[k++] = a.l0 * (b.l0 * row(a.i0, b.i0) + b.l1 * row(a.i0, b.i1)) + a.l1 * (b.l0 * row(a.i1, b.i0) + b.l1 * row(a.i1, b.i1));
        }
  }
  return y;
}

function refBackward(g: Float32Array, shape: number[], o: RefOpts): Float64Array {
  const [N, C, D, H, W] = shape as [number, number, number, number, number];
  const [OD, OH, OW] = o.out as [number, number, number];
  const td = axisTaps(D, OD, o.align, o.factors?.[0]);
  const th = axisTaps(H, OH, o.align, o.factors?.[1]);
  const tw = axisTaps(W, OW, o.align, o.factors?.[2]);
  const dx = new Float64Array(N * C * D * H * W);
  let k = 0;
  for (let p = 0; p < N * C; p++)
    for (const a of td)
      for (const b of th)
        for (const c of tw) {
          const gv = g[k++]!;
          for (const [d, wd] of [[a.i0, a.l0], [a.i1, a.l1]] as const)
            for (const [h, wh] of [[b.i0, b.l0], [b.i1, b.l1]] as const)
              for (const [w, ww] of [[c.i0, c.l0], [c.i1, c.l1]] as const) dx[((p * D + d) * H + h) * W + w]! += gv * wd * wh * ww;
        }
  return dx;
}

async function check(shape: number[], opts: InterpolateOptions, ref: RefOpts, seed: number): Promise<void> {
  const xd = randArray(shape.reduce((a, b) => a * b, 1), seed);
  const x = tensor(xd, shape, { requiresGrad: true });
  const y = interpolate(x, opts);
  expect(y.shape).toEqual([shape[0], shape[1], ...ref.out]);
  expectClose(await y.data(), refForward(xd, shape, ref), 1e-5, 1e-5, `forward ${JSON.stringify(opts)}`);
  const gd = randArray(y.size, seed + 1);
  const g = tensor(gd, y.shape);
  backward(y, g);
  expectClose(await x.grad!.data(), refBackward(gd, shape, ref), 1e-5, 1e-5, `backward ${JSON.stringify(opts)}`);
  x.zeroGrad();
  [x, y, g].forEach((t) => t.dispose());
}

beforeAll(async () => {
  await getDevice();
});

describe('interpolate (trilinear)', () => {
  it('matches hand-computed values on one axis', async () => {
    const x = tensor([0, 1], [1, 1, 1, 1, 2]);
    const hp = interpolate(x, { size: [1, 1, 4] });
    expectClose(await hp.data(), [0, 0.25, 0.75, 1]);
    const ac = interpolate(x, { size: [1, 1, 4], alignCorners: true });
    expectClose(await ac.data(), [0, 1 / 3, 2 / 3, 1]);
    [x, hp, ac].forEach((t) => t.dispose());
  });

  for (const align of [false, true]) {
    describe(`align_corners=${align}`, () => {
      it('upsamples (odd sizes, batch 2), forward and backward', async () => {
        await check([2, 3, 3, 4, 5], { size: [6, 8, 11], alignCorners: align }, { out: [6, 8, 11], align }, 1);
      });
      it('downsamples', async () => {
        await check([2, 2, 7, 9, 5], { size: [3, 4, 2], alignCorners: align }, { out: [3, 4, 2], align }, 2);
      });
      it('mixes up, down, same size and size-1 axes', async () => {
        await check([1, 2, 1, 5, 3], { size: [4, 1, 3], alignCorners: align }, { out: [4, 1, 3], align }, 3);
        await check([2, 1, 4, 1, 6], { size: [1, 3, 6], alignCorners: align }, { out: [1, 3, 6], align }, 4);
      });
      it('handles large ratios both ways', async () => {
        await check([1, 1, 2, 3, 2], { size: [9, 13, 1], alignCorners: align }, { out: [9, 13, 1], align }, 5);
        await check([1, 2, 17, 2, 13], { size: [2, 7, 3], alignCorners: align }, { out: [2, 7, 3], align }, 6);
      });
      it('vectorises rows and planes that are multiples of 4 and 16 (up and down)', async () => {
        await check([2, 3, 3, 4, 8], { size: [5, 6, 12], alignCorners: align }, { out: [5, 6, 12], align }, 7);
        await check([1, 2, 6, 5, 12], { size: [3, 4, 4], alignCorners: align }, { out: [3, 4, 4], align }, 8);
        await check([1, 1, 2, 2, 4], { size: [3, 2, 16], alignCorners: align }, { out: [3, 2, 16], align }, 15);
        await check([1, 2, 3, 5, 16], { size: [4, 7, 16], alignCorners: align }, { out: [4, 7, 16], align }, 16);
      });
      it('agrees with finite differences', async () => {
        await gradCheck(([x]) => interpolate(x!, { size: [5, 3, 4], alignCorners: align }), [{ data: randArray(2 * 2 * 3 * 4 * 5, 9), shape: [2, 2, 3, 4, 5] }], { eps: 0.05 });
      });
    });
  }

  describe('scaleFactor', () => {
    it('uses floor(in·s) voxels and 1/s as the coordinate scale, like PyTorch', async () => {
      await check([1, 2, 5, 4, 3], { scaleFactor: 1.5 }, { out: [7, 6, 4], align: false, factors: [1.5, 1.5, 1.5] }, 10);
      // The same with the scale recomputed from the sizes differs (5/7 ≠ 1/1.5).
      await check([1, 2, 5, 4, 3], { scaleFactor: 1.5, recomputeScaleFactor: true }, { out: [7, 6, 4], align: false }, 10);
      await check([2, 1, 6, 5, 3], { scaleFactor: [0.5, 0.7, 2] }, { out: [3, 3, 6], align: false, factors: [0.5, 0.7, 2] }, 11);
    });
    it('copies an axis whose size does not change, even when s ≠ 1', async () => {
      // 4 · 1.2 = 4.8 → 4: PyTorch copies that axis instead of sampling it at 1/1.2.
      await check([1, 1, 4, 3, 2], { scaleFactor: [1.2, 2, 1] }, { out: [4, 6, 2], align: false, factors: [1.2, 2, 1] }, 12);
      const x = tensor(randArray(24, 13), [1, 1, 4, 3, 2]);
      const y = interpolate(x, { scaleFactor: [1.2, 1.1, 1.4] });
      expectClose(await y.data(), await x.data(), 0, 0);
      [x, y].forEach((t) => t.dispose());
    });
    it('ignores the factor for the coordinates when align_corners is set', async () => {
      await check([1, 1, 3, 5, 2], { scaleFactor: 2.5, alignCorners: true }, { out: [7, 12, 5], align: true }, 14);
    });
  });

  it('interpolateBackward is the transpose of the forward', async () => {
    const shape = [1, 2, 4, 3, 5];
    const gd = randArray(2 * 7 * 2 * 9, 20);
    const g = tensor(gd, [1, 2, 7, 2, 9]);
    const dx = interpolateBackward(g, shape, { size: [7, 2, 9] });
    expectClose(await dx.data(), refBackward(gd, shape, { out: [7, 2, 9], align: false }), 1e-5, 1e-5);
    expect(() => interpolateBackward(g, shape, { size: [7, 2, 8] })).toThrow(/\[1, 2, 7, 2, 9\]/);
    [g, dx].forEach((t) => t.dispose());
  });

  it('rejects bad shapes and arguments with errors that name them', () => {
    const x = tensor(new Float32Array(24), [1, 2, 3, 4]);
    const x5 = tensor(new Float32Array(24), [1, 1, 2, 3, 4]);
    expect(() => interpolate(x, { size: [2, 2, 2] })).toThrow(ShapeError);
    expect(() => interpolate(x, { size: [2, 2, 2] })).toThrow(/\[1, 2, 3, 4\]/);
    expect(() => interpolate(x5, { size: [2, 2] })).toThrow(/size needs 1 or 3 values.*\[1, 1, 2, 3, 4\]/);
    expect(() => interpolate(x5, { size: [2, 0, 2] })).toThrow(/\[2, 0, 2\] must be positive/);
    expect(() => interpolate(x5, { size: [2, 2, 2], scaleFactor: 2 })).toThrow(/either size or scaleFactor/);
    expect(() => interpolate(x5, {})).toThrow(/give size or scaleFactor/);
    expect(() => interpolate(x5, { scaleFactor: -1 })).toThrow(ShapeError);
    expect(() => interpolate(x5, { scaleFactor: 0.2 })).toThrow(/empty output \[0, 0, 0\]/);
    expect(() => interpolate(tensor(new Float32Array(0), [1, 1, 0, 2, 2]), { size: 2 })).toThrow(/empty spatial axis/);
    [x, x5].forEach((t) => t.dispose());
  });
});
