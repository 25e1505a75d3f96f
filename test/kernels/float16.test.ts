/**
 * float16 storage paths against the host references, on inputs rounded to float16. The
 * kernels compute in f32 and round only the stored result, so each output is within half a
 * float16 step of the f32 result: |got − want| ≤ 2^-11·|want| (binary16's relative rounding
 * bound), plus an absolute term for the f32 accumulation and values near zero.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add, binaryOps, broadcastTo, cat, conv3d, crop, emAttention, flip, globalAvgPool3d, interpolate, pad, softmax, conv3dBiasRelu, instanceNorm3d, instanceNorm3dAdd, instanceNorm3dRelu, mul, NotImplementedError, roundToHalf, slice, tensor, unary, unaryOps,
  type Conv3dVariant, type Tensor, type UnaryOpName,
} from '../../src/index.js';
import { refConv3d, refOutShape, type RefConv } from './conv3d-ref.js';
import { fusedReference } from './instance-norm-ref.js';
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

describe('elementwise ops on float16', () => {
  const x = half(randArray(60, 40, -3, 3).map((v) => (Math.abs(v) < 0.05 ? v + 0.2 : v)));
  for (const name of ['relu', 'sigmoid', 'exp', 'neg', 'scale', 'add_scalar'] as UnaryOpName[]) {
    it(`${name}`, async () => {
      const def = unaryOps[name];
      const p = 'param' in def ? 1.7 : 0;
      const y = unary(name, h16(x, [3, 4, 5]), p);
      expect(y.dtype).toBe('float16');
      expectClose(await y.data(), x.map((v) => def.ref(v, p)), HALF_STEP, 1e-6, name);
    });
  }

  it('binary ops, same shape and broadcast', async () => {
    const a = half(randArray(2 * 3 * 64, 41));
    const b = half(randArray(3 * 64, 42));
    const bb = half(randArray(3, 43));
    const ref = (f: (p: number, q: number) => number, q: Float32Array, every: number, stride = 1) => a.map((v, i) => f(v, q[Math.floor((i % every) / stride)]!));
    expectClose(await add(h16(a, [2, 3, 64]), h16(a, [2, 3, 64])).data(), a.map((v) => 2 * v), HALF_STEP, 1e-6, 'add same');
    expectClose(await mul(h16(a, [2, 3, 64]), h16(b, [3, 64])).data(), ref(binaryOps.mul.ref, b, 192), HALF_STEP, 1e-6, 'mul broadcast');
    expectClose(await add(h16(a, [2, 3, 64]), h16(bb, [3, 1])).data(), ref(binaryOps.add.ref, bb, 192, 64), HALF_STEP, 1e-6, 'add per channel');
    expectClose(await broadcastTo(h16(bb, [3, 1]), [3, 4]).data(), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2].map((i) => bb[i]!), 0, 0, 'broadcastTo');
    expect(() => add(h16(a, [2, 3, 64]), tensor(a, [2, 3, 64]))).toThrow(/dtypes float16 and float32/);
  });

  it('cat and slice copy float16 rows', async () => {
    const a = half(randArray(2 * 2 * 6, 44));
    const b = half(randArray(2 * 3 * 6, 45));
    const y = cat([h16(a, [2, 2, 6]), h16(b, [2, 3, 6])], 1);
    expect(y.dtype).toBe('float16');
    const want: number[] = [];
    for (let n = 0; n < 2; n++) want.push(...a.subarray(n * 12, n * 12 + 12), ...b.subarray(n * 18, n * 18 + 18));
    expect([...(await y.data())]).toEqual(want);
    expect([...(await slice(y, 1, 2, 5).data())]).toEqual([...b]);
  });
});

describe('instance norm on float16 (statistics in f32 from the f16 input)', () => {
  const shapes: number[][] = [
    [1, 3, 4, 4, 4], // 64 voxels a plane: the vec4 / 16-voxel paths
    [2, 2, 3, 3, 3], // 27: the scalar paths
  ];
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const c = shape[1]!;
    const x = half(randArray(n, 50 + n, -2, 3));
    const r = half(randArray(n, 51 + n));
    const w = half(randArray(c, 52, 0.5, 1.5));
    const b = half(randArray(c, 53));
    const g = new Float32Array(n);
    for (const [what, relu, res] of [['plain', false, false], ['+relu', true, false], ['+add+relu', true, true]] as const) {
      it(`${shape.join('×')} ${what}`, async () => {
        const [xt, wt, bt, rt] = [h16(x, shape), h16(w, [c]), h16(b, [c]), h16(r, shape)];
        const y = res ? instanceNorm3dAdd(xt, rt, wt, bt, 1e-5, { relu }) : relu ? instanceNorm3dRelu(xt, wt, bt) : instanceNorm3d(xt, wt, bt);
        expect(y.dtype).toBe('float16');
        // Outputs are O(1): the f32 statistics add ~1e-6, the f16 store half a step.
        expectClose(await y.data(), fusedReference(x, shape, w, b, res ? r : null, relu, g, 1e-5).y, HALF_STEP, 1e-4, `instance norm ${what}`);
      });
    }
  }
});

/**
 * The rest of the eval forward against the float32 path on the same (float16-valued) inputs:
 * the f32 kernels are tested against host references in their own suites, and the float16
 * variants run the same arithmetic, so they differ by the rounding of the stores alone.
 */
describe('eval-forward ops on float16 against their float32 results', () => {
  const shape = [1, 3, 4, 6, 8];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = half(randArray(n, 60, -2, 2));
  const ops: [string, (t: Tensor) => Tensor][] = [
    ['interpolate up (three passes, rounded once)', (t) => interpolate(t, { size: [7, 9, 16] })],
    ['interpolate to half size', (t) => interpolate(t, { size: [2, 3, 4] })],
    ['interpolate, no axis changes (a copy)', (t) => interpolate(t, { size: [4, 6, 8] })],
    ['globalAvgPool3d', globalAvgPool3d],
    ['softmax over channels', (t) => softmax(t, 1)],
    ['flip (TTA)', (t) => flip(t, [2, 4])],
    ['pad and crop', (t) => crop(pad(t, [1, 0, 2, 1, 0, 3]), [0, 0, 0, 2, 1], [1, 3, 4, 6, 8])],
  ];
  for (const [what, f] of ops) {
    it(what, async () => {
      const want = await f(tensor(x, shape)).data();
      const y = f(h16(x, shape));
      expect(y.dtype).toBe('float16');
      expectClose(await y.data(), want, HALF_STEP, 1e-6, what);
    });
  }

  for (const [what, xs] of [
    ['aligned (V % 4 = 0)', [2, 8, 4, 4, 4]],
    ['generic', [1, 6, 3, 3, 3]],
  ] as [string, number[]][]) {
    it(`emAttention, ${what}: f32 bases, f16 features`, async () => {
      const c = xs[1]!;
      const xv = half(randArray(xs.reduce((a, b) => a * b, 1), 61, -1, 1));
      const mu = randArray(c * 4, 62, 0.1, 1);
      const want = emAttention(tensor(xv, xs), tensor(mu, [1, c, 4]), { stages: 3 });
      const got = emAttention(h16(xv, xs), tensor(mu, [1, c, 4]), { stages: 3 });
      expect(got.y.dtype).toBe('float16');
      expect(got.mu.dtype).toBe('float32');
      expectClose(await got.y.data(), await want.y.data(), HALF_STEP, 1e-6, 'y');
      expectClose(await got.mu.data(), await want.mu.data(), 1e-5, 1e-6, 'mu');
    });
  }
});
