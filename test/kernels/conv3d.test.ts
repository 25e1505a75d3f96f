import { beforeAll, describe, expect, it } from 'vitest';
import { backward, conv3d, conv3dDirect, conv3dKernels, ShapeError, tensor, type Conv3dVariant, type Device } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray } from '../helpers.js';
import { compareConv as compare, referenceConv, runConv, type ConvResult as Result } from './conv3d-compare.js';
import { refConv3d, refOutShape, type RefConv } from './conv3d-ref.js';

type T3 = [number, number, number];

interface Case {
  name: string;
  x: number[];
  w: number[];
  stride: T3;
  pad: T3;
  bias: boolean;
  /** Tilings checked besides 'gpu' (which runs everywhere): each new (kw, stride) costs a pipeline compile. */
  cpu?: boolean;
}

const cases: Case[] = [
  { name: 'k3 s1 p1, batch 2, odd sizes, Co 7', x: [2, 5, 5, 6, 11], w: [7, 5, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: true, cpu: true },
  { name: 'k3 s1 p1, Co 33', x: [1, 3, 6, 7, 5], w: [33, 3, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: true, cpu: true },
  { name: 'k3 s2 p1, batch 2', x: [2, 4, 8, 6, 7], w: [5, 4, 3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1], bias: true, cpu: true },
  { name: 'k3 s1, long odd rows (several tiles per row)', x: [1, 2, 3, 4, 37], w: [3, 2, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: true, cpu: true },
  { name: 'k3 s2, long rows (several tiles per row)', x: [1, 3, 3, 4, 41], w: [4, 3, 3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1], bias: false, cpu: true },
  // Rows of a multiple of 4 take the vec4 padded copy; left paddings 1, 2, 3 and dgrad's crops
  // of 1 and 2 between them splice at every lane shift.
  { name: 'k3 s1 p1 on 4-aligned rows', x: [1, 3, 4, 5, 12], w: [6, 3, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: true, cpu: true },
  { name: 'k3 s2 p1 on 4-aligned rows', x: [1, 2, 6, 4, 16], w: [3, 2, 3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1], bias: false, cpu: true },
  { name: 'W padding 3 past a 3-tap kernel on 4-aligned rows', x: [1, 2, 3, 4, 8], w: [3, 2, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 3], bias: false },
  { name: 'W padding 2 past a 1-tap kernel on 4-aligned rows', x: [1, 2, 3, 4, 8], w: [3, 2, 1, 3, 1], stride: [1, 1, 1], pad: [0, 1, 2], bias: true },
  { name: 'k1, Ci 33, row not a multiple of 4', x: [1, 33, 3, 4, 5], w: [3, 33, 1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], bias: false, cpu: true },
  { name: 'k1 on 4-aligned rows (no padded copy)', x: [1, 3, 4, 5, 8], w: [5, 3, 1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], bias: false },
  { name: '1x3x3, stride [1,2,2], padding [0,1,1]', x: [2, 3, 5, 7, 9], w: [6, 3, 1, 3, 3], stride: [1, 2, 2], pad: [0, 1, 1], bias: true, cpu: true },
  { name: '3x1x2, stride [2,1,3], padding [1,0,2]', x: [1, 7, 5, 6, 7], w: [5, 7, 3, 1, 2], stride: [2, 1, 3], pad: [1, 0, 2], bias: false },
  { name: 'all sizes 1', x: [1, 1, 1, 1, 1], w: [1, 1, 1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], bias: true },
  { name: 'D = H = 1, kernel 1x1x3', x: [1, 2, 1, 1, 9], w: [3, 2, 1, 1, 3], stride: [1, 1, 1], pad: [0, 0, 1], bias: true },
  { name: 'stride 3, padding 2', x: [1, 2, 3, 4, 5], w: [3, 2, 3, 3, 3], stride: [3, 3, 3], pad: [2, 2, 2], bias: true },
  { name: 'kernel 2 < stride 3 (inputs no tap reaches)', x: [1, 2, 4, 4, 8], w: [3, 2, 2, 2, 2], stride: [3, 3, 3], pad: [0, 0, 0], bias: true },
  { name: 'padding larger than the kernel, 5x4x3', x: [1, 1, 6, 5, 9], w: [1, 1, 5, 4, 3], stride: [1, 2, 1], pad: [3, 4, 4], bias: true },
  { name: 'k3 s1, 9^3 batch 2 (weight gradient in many chunks)', x: [2, 3, 9, 9, 9], w: [4, 3, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: false },
];

describe('conv3d', () => {
  let device: Device;
  beforeAll(async () => {
    device = await getDevice();
  });

  describe.each(cases)('$name', (c) => {
    const xh = randArray(c.x.reduce((a, b) => a * b, 1), 1);
    const wh = randArray(c.w.reduce((a, b) => a * b, 1), 2);
    const bh = c.bias ? randArray(c.w[0]!, 3) : null;
    const rc: RefConv = { x: xh, xShape: c.x, w: wh, wShape: c.w, b: bh, stride: c.stride, pad: c.pad };
    const gyh = randArray(refOutShape(rc).reduce((a, b) => a * b, 1), 4);
    const ref = (): Result => referenceConv(rc, gyh);
    let direct: Result;
    const variants: Conv3dVariant[] = c.cpu ? ['gpu', 'cpu'] : ['gpu'];

    it('direct kernels match the host reference (forward and gradients)', async () => {
      direct = await runConv(rc, gyh, (x, w, b) => conv3dDirect(x, w, b, { stride: c.stride, padding: c.pad }));
      compare(direct, ref(), 'direct vs host', 1e-4);
    });

    it.each(variants)('%s tiling matches the direct kernels and the host reference', async (variant) => {
      const got = await runConv(rc, gyh, (x, w, b) => conv3d(x, w, b, { stride: c.stride, padding: c.pad, variant }));
      expect(got.y.length).toBe(refOutShape(rc).reduce((a, b) => a * b, 1));
      compare(got, direct, `${variant} vs direct`, 1e-4);
      compare(got, ref(), `${variant} vs host`, 1e-4);
    });
  });

  it('default variant (adapter-chosen) agrees with the reference', async () => {
    const c = cases[0]!;
    const xh = randArray(2 * 5 * 5 * 6 * 11, 11);
    const wh = randArray(7 * 5 * 27, 12);
    const x = tensor(xh, c.x);
    const w = tensor(wh, c.w);
    const y = conv3d(x, w, null, { stride: 1, padding: 1 });
    expectClose(await y.data(), refConv3d({ x: xh, xShape: c.x, w: wh, wShape: c.w, b: null, stride: [1, 1, 1], pad: [1, 1, 1] }), 1e-4, 1e-4);
    [x, w, y].forEach((t) => t.dispose());
  });

  it('lists its kernels for warm-up, and runs after warming them', async () => {
    const xs = [1, 3, 5, 6, 7];
    const ws = [4, 3, 3, 3, 3];
    const defs = conv3dKernels(device, xs, ws, { stride: 2, padding: 1, bias: true, variant: 'gpu' });
    expect(defs.map((d) => d.name)).toEqual(expect.arrayContaining(['conv3d_pad', 'conv3d_weights', 'conv3d_tiled_4x4_k3s2', 'conv3d_tiled_4x4_k2s1', 'conv3d_wgrad_4_k3x3s2']));
    await device.warmup(defs);
    const xh = randArray(3 * 5 * 6 * 7, 51);
    const wh = randArray(4 * 3 * 27, 52);
    const x = tensor(xh, xs);
    const w = tensor(wh, ws);
    const y = conv3d(x, w, null, { stride: 2, padding: 1, variant: 'gpu' });
    expectClose(await y.data(), refConv3d({ x: xh, xShape: xs, w: wh, wShape: ws, b: null, stride: [2, 2, 2], pad: [1, 1, 1] }), 1e-4, 1e-4);
    [x, w, y].forEach((t) => t.dispose());
  });

  it('passes a finite-difference gradient check (stride 1, padding 1, bias)', async () => {
    await gradCheck(([x, w, b]) => conv3d(x!, w!, b!, { padding: 1 }), [
      { data: randArray(2 * 2 * 3 * 4 * 5, 21), shape: [2, 2, 3, 4, 5] },
      { data: randArray(3 * 2 * 27, 22), shape: [3, 2, 3, 3, 3] },
      { data: randArray(3, 23), shape: [3] },
    ]);
  });

  it('passes a finite-difference gradient check (stride [2,1,2], anisotropic kernel)', async () => {
    await gradCheck(([x, w]) => conv3d(x!, w!, null, { stride: [2, 1, 2], padding: [1, 0, 1] }), [
      { data: randArray(1 * 3 * 5 * 4 * 6, 31), shape: [1, 3, 5, 4, 6] },
      { data: randArray(2 * 3 * 3 * 2 * 3, 32), shape: [2, 3, 3, 2, 3] },
    ]);
  });

  it('computes only the gradients that are needed, and frees every temporary', async () => {
    const live0 = device.memoryStats().liveBytes;
    const x = tensor(randArray(1 * 3 * 5 * 5 * 5, 41), [1, 3, 5, 5, 5]);
    const w = tensor(randArray(4 * 3 * 27, 42), [4, 3, 3, 3, 3], { requiresGrad: true });
    const b = tensor(randArray(4, 43), [4]);
    const y = conv3d(x, w, b, { padding: 1 });
    const gy = tensor(randArray(y.size, 44), y.shape);
    backward(y, gy);
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
    expect(w.grad?.shape).toEqual([4, 3, 3, 3, 3]);
    w.zeroGrad();
    [x, w, b, y, gy].forEach((t) => t.dispose());
    await device.sync();
    expect(device.memoryStats().liveBytes).toBe(live0);
  });

  describe('shape errors', () => {
    const t = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    const throwsShape = (fn: () => unknown, ...parts: (string | RegExp)[]) => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ShapeError);
      for (const p of parts) expect((err as Error).message).toMatch(p);
    };

    it('names both shapes when the channels disagree', () => {
      throwsShape(() => conv3d(t([1, 3, 4, 4, 4]), t([2, 4, 3, 3, 3])), '[1, 3, 4, 4, 4]', '[2, 4, 3, 3, 3]', /channels/);
    });

    it('names both shapes when a rank is wrong', () => {
      throwsShape(() => conv3d(t([3, 4, 4, 4]), t([2, 3, 3, 3, 3])), '[3, 4, 4, 4]', '[2, 3, 3, 3, 3]');
      throwsShape(() => conv3d(t([1, 3, 4, 4, 4]), t([2, 3, 3, 3])), '[1, 3, 4, 4, 4]', '[2, 3, 3, 3]');
    });

    it('rejects an empty output', () => {
      throwsShape(() => conv3d(t([1, 1, 2, 5, 5]), t([1, 1, 3, 3, 3])), /empty output/, '[0, 3, 3]');
      throwsShape(() => conv3d(t([1, 1, 2, 5, 5]), t([1, 1, 3, 3, 3]), null, { stride: 2 }), /empty output/);
    });

    it('rejects a bias of the wrong size and bad strides or paddings', () => {
      throwsShape(() => conv3d(t([1, 2, 4, 4, 4]), t([3, 2, 1, 1, 1]), t([2])), '[2]', '[3]');
      throwsShape(() => conv3d(t([1, 2, 4, 4, 4]), t([3, 2, 1, 1, 1]), null, { stride: 0 }), /stride/);
      throwsShape(() => conv3d(t([1, 2, 4, 4, 4]), t([3, 2, 1, 1, 1]), null, { padding: [1, 1] }), /padding/);
      throwsShape(() => conv3d(t([1, 2, 4, 4, 4]), t([3, 2, 1, 1, 1]), null, { padding: -1 }), /padding/);
    });
  });
});
