/**
 * float16 storage paths against the host references, on inputs rounded to float16. The
 * kernels compute in f32 and round only the stored result, so each output is within half a
 * float16 step of the f32 result: |got − want| ≤ 2^-11·|want| (binary16's relative rounding
 * bound), plus an absolute term for the f32 accumulation and values near zero.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { conv3d, conv3dBiasRelu, NotImplementedError, roundToHalf, tensor, type Conv3dVariant, type Tensor } from '../../src/index.js';
import { refConv3d, refOutShape, type RefConv } from './conv3d-ref.js';
import { expectClose, getDevice, randArray } from '../helpers.js';

const HALF_STEP = 2 ** -11;
const half = (a: Float32Array): Float32Array => a.map(roundToHalf);
const h16 = (a: Float32Array, shape: readonly number[]): Tensor => tensor(a, shape, { dtype: 'float16' });

beforeAll(async () => {
  const d = await getDevice();
  if (!d.hasHalf) throw new Error(`these tests need an adapter with shader-f16 (${d.adapterInfo})`);
});

function refCase(xShape: number[], wShape: number[], bias: boolean, stride: RefConv['stride'], pad: RefConv['pad'], seed: number): RefConv {
  const n = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  return {
    x: half(randArray(n(xShape), seed, -2, 2)),
    xShape,
    w: half(randArray(n(wShape), seed + 1, -0.5, 0.5)),
    wShape,
    b: bias ? half(randArray(wShape[0]!, seed + 2)) : null,
    stride,
    pad,
  };
}

describe('conv3d forward on float16', () => {
  const cases: [string, RefConv][] = [
    ['3³ pad 1 with bias', refCase([1, 3, 5, 6, 7], [5, 3, 3, 3, 3], true, [1, 1, 1], [1, 1, 1], 10)],
    ['3³ stride 2 pad 1', refCase([2, 4, 6, 6, 8], [6, 4, 3, 3, 3], false, [2, 2, 2], [1, 1, 1], 20)],
    ['1³ with bias, 4-aligned rows (x bound as is)', refCase([1, 8, 3, 4, 8], [3, 8, 1, 1, 1], true, [1, 1, 1], [0, 0, 0], 30)],
  ];
  for (const variant of ['direct', 'cpu', 'gpu', 'auto'] as Conv3dVariant[]) {
    for (const [what, c] of cases) {
      it(`${variant}: ${what}`, async () => {
        const y = conv3d(h16(c.x, c.xShape), h16(c.w, c.wShape), c.b ? h16(c.b, [c.b.length]) : null, { stride: c.stride, padding: c.pad, variant });
        expect(y.dtype).toBe('float16');
        expect(y.shape).toEqual(refOutShape(c));
        expectClose(await y.data(), refConv3d(c), HALF_STEP, 1e-4, `conv3d ${variant} ${what}`);
      });
    }
  }

  it('conv3dBiasRelu stays float16', async () => {
    const c = cases[0]![1];
    const y = conv3dBiasRelu(h16(c.x, c.xShape), h16(c.w, c.wShape), h16(c.b!, [c.b!.length]), { padding: 1 });
    expect(y.dtype).toBe('float16');
    expectClose(await y.data(), refConv3d(c).map((v) => Math.max(0, v)), HALF_STEP, 1e-4, 'conv3dBiasRelu');
  });

  it('mixed dtypes and the GEMM kernels (float32 only) are clear errors', () => {
    const c = cases[0]![1];
    expect(() => conv3d(h16(c.x, c.xShape), tensor(c.w, c.wShape), null, { padding: 1 })).toThrow(/input is float16 and weight float32/);
    expect(() => conv3d(h16(c.x, c.xShape), h16(c.w, c.wShape), null, { padding: 1, variant: 'gemm' })).toThrow(NotImplementedError);
  });
});
