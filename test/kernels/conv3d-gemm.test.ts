import { beforeAll, describe, expect, it } from 'vitest';
import { conv3d, conv3dBiasRelu, conv3dKernels, convGeometry, Device, relu, tensor, type Conv3dVariant, type Tensor } from '../../src/index.js';
import { GEMM_TILES, checkGemmTiles, dgradPhases, gemmFits, gemmPasses, wgradChunks, type GemmTiles } from '../../src/kernels/conv3d-gemm.js';
import { convBlocks } from '../../src/kernels/conv3d-split.js';
import { getDevice, gradCheck, randArray } from '../helpers.js';
import { compareConv as compare, referenceConv, runConv, type ConvResult as Result } from './conv3d-compare.js';
import { refConv3d, refConv3dGrads, refOutShape, type RefConv } from './conv3d-ref.js';

// The first test of each tiling compiles its kernels: tens of seconds each on a busy lavapipe.
const COMPILE_MS = 900_000;

type T3 = [number, number, number];

interface Case {
  name: string;
  x: number[];
  w: number[];
  stride: T3;
  pad: T3;
  bias: boolean;
}

const cases: Case[] = [
  { name: 'k3 s1 p1, batch 2, odd sizes, Ci 5, Co 7', x: [2, 5, 5, 6, 11], w: [7, 5, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: true },
  { name: 'k3 s2 p1, batch 2', x: [2, 4, 8, 6, 7], w: [5, 4, 3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1], bias: true },
  { name: 'k3 s2 p0, odd sizes', x: [1, 3, 7, 9, 5], w: [6, 3, 3, 3, 3], stride: [2, 2, 2], pad: [0, 0, 0], bias: false },
  { name: 'k3 s1 p0', x: [1, 2, 5, 4, 6], w: [3, 2, 3, 3, 3], stride: [1, 1, 1], pad: [0, 0, 0], bias: true },
  { name: 'k1 s1, Ci 33 (K not a multiple of the chunk)', x: [1, 33, 3, 4, 5], w: [3, 33, 1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], bias: false },
  { name: 'k1 s2, batch 2, Co 70 (two column tiles, the second partial)', x: [2, 3, 5, 6, 7], w: [70, 3, 1, 1, 1], stride: [2, 2, 2], pad: [0, 0, 0], bias: true },
  { name: 'k1 s1 p1 (outputs wholly in the padding)', x: [1, 2, 3, 3, 4], w: [2, 2, 1, 1, 1], stride: [1, 1, 1], pad: [1, 1, 1], bias: true },
  { name: 'k3, Co 66, Ci·taps 135 (wgrad tiles on both axes)', x: [1, 5, 4, 4, 4], w: [66, 5, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: false },
  { name: '3x1x2, stride [2,1,3], padding [1,0,2]', x: [1, 7, 5, 6, 7], w: [5, 7, 3, 1, 2], stride: [2, 1, 3], pad: [1, 0, 2], bias: false },
  { name: 'kernel 2 < stride 3 (inputs no tap reaches)', x: [1, 2, 4, 4, 8], w: [3, 2, 2, 2, 2], stride: [3, 3, 3], pad: [0, 0, 0], bias: true },
  { name: 'padding larger than the kernel, 5x4x3', x: [1, 1, 6, 5, 9], w: [1, 1, 5, 4, 3], stride: [1, 2, 1], pad: [3, 4, 4], bias: true },
  { name: 'k3 s1, 9^3 batch 2 (wgrad split over many chunks)', x: [2, 3, 9, 9, 9], w: [4, 3, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: false },
  { name: 'all sizes 1', x: [1, 1, 1, 1, 1], w: [1, 1, 1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], bias: true },
];

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

interface Inputs {
  c: Case;
  xh: Float32Array;
  wh: Float32Array;
  bh: Float32Array | null;
  gyh: Float32Array;
  ref: RefConv;
}

function inputs(c: Case, seed: number): Inputs {
  const xh = randArray(numel(c.x), seed);
  const wh = randArray(numel(c.w), seed + 1);
  const bh = c.bias ? randArray(c.w[0]!, seed + 2) : null;
  const ref: RefConv = { x: xh, xShape: c.x, w: wh, wShape: c.w, b: bh, stride: c.stride, pad: c.pad };
  return { c, xh, wh, bh, gyh: randArray(numel(refOutShape(ref)), seed + 3), ref };
}

const run = (t: Inputs, fn: (x: Tensor, w: Tensor, b: Tensor | null) => Tensor, device?: Device): Promise<Result> => runConv(t.ref, t.gyh, fn, device);
const reference = (t: Inputs): Result => referenceConv(t.ref, t.gyh);

describe('conv3d gemm variant', () => {
  let device: Device;
  beforeAll(async () => {
    device = await getDevice();
  });

  describe.each(cases)('$name', (c) => {
    it('matches the host reference (forward, input and weight gradients)', async () => {
      const t = inputs(c, 1);
      const got = await run(t, (x, w, b) => conv3d(x, w, b, { stride: c.stride, padding: c.pad, variant: 'gemm' }));
      compare(got, reference(t), 'gemm vs host');
    }, COMPILE_MS);
  });

  // Each tiling compiles its own kernels: the other two run on the cases that reach the
  // most code paths (partial tiles, strided phases, split-K, several column tiles).
  const tilingCases = [cases[0]!, cases[1]!, cases[7]!, cases[11]!].map((c) => ({ ...c, bias: true }));
  describe.each(Object.entries(GEMM_TILES).filter(([name]) => name !== 't64x64'))('tiling %s', (_name, tiles) => {
    it.each(tilingCases.map((c) => [c.name, c] as const))('%s: passes match the host reference', async (_n, c) => {
      const t = inputs(c, 5);
      const p = gemmPasses(tiles);
      const x = tensor(t.xh, c.x);
      const w = tensor(t.wh, c.w);
      const b = t.bh ? tensor(t.bh, [c.w[0]!]) : null;
      const gy = tensor(t.gyh, refOutShape(t.ref));
      const g = convGeometry(x, w, b, { stride: c.stride, padding: c.pad });
      expect(gemmFits(g, device, tiles)).toEqual({ forward: true, inputGrad: true, weightGrad: true });
      const [y, gx, gw] = [p.forward(x, w, b, g), p.inputGrad(gy, w, g), p.weightGrad(x, gy, g)];
      const want = reference(t);
      compare({ y: await y.data(), gx: await gx.data(), gw: await gw.data(), gb: null }, { ...want, gb: null }, `${_name}`);
      [x, w, b, gy, y, gx, gw].forEach((v) => v?.dispose());
    }, COMPILE_MS);
  });

  it('splits a strided dgrad into phases that only visit the taps reaching them', () => {
    const x = tensor(new Float32Array(2 * 8 * 6 * 7), [1, 2, 8, 6, 7]);
    const w = tensor(new Float32Array(3 * 2 * 27), [3, 2, 3, 3, 3]);
    const g = convGeometry(x, w, null, { stride: 2, padding: 1 });
    const ph = dgradPhases(g);
    expect(ph.length).toBe(8);
    // Multiply-adds per input voxel, summed over phases, equal the forward's taps (27 per
    // output voxel × 1/8 of the inputs per output): no zero taps of a dilated dy are formed.
    const macs = ph.reduce((s, [z, y, x]) => s + z.count * y.count * x.count * z.taps * y.taps * x.taps, 0);
    const exact = 8 * 6 * 7 * 27 / 8;
    expect(macs).toBeLessThan(1.5 * exact);
    expect(ph.reduce((s, [z, y, x]) => s + z.count * y.count * x.count, 0)).toBe(8 * 6 * 7);
    [x, w].forEach((v) => v.dispose());
  });

  it('lists its kernels for warm-up', () => {
    const names = conv3dKernels(device, [1, 3, 5, 6, 7], [4, 3, 3, 3, 3], { stride: 2, padding: 1, bias: true, variant: 'gemm' }).map((d) => d.name);
    expect(names).toEqual(expect.arrayContaining(['conv3d_gemm_fwd_bias_64x64x16_4x4', 'conv3d_gemm_dgrad_64x64x16_4x4', 'conv3d_gemm_wgrad_64x64x16_4x4']));
    expect(names.filter((n) => n.includes('direct'))).toEqual([]);
  });

  it('checks its tiling and the device limits', () => {
    expect(() => checkGemmTiles({ bm: 64, bn: 64, bk: 16, tm: 3, tn: 4 })).toThrow(/not supported/);
    expect(() => checkGemmTiles({ bm: 16, bn: 64, bk: 4, tm: 1, tn: 4 })).toThrow(/not supported/);
    for (const t of Object.values(GEMM_TILES) as GemmTiles[]) expect(() => checkGemmTiles(t)).not.toThrow();
    const x = tensor(new Float32Array(2 * 64), [1, 2, 4, 4, 4]);
    const w = tensor(new Float32Array(3 * 2 * 27), [3, 2, 3, 3, 3]);
    const g = convGeometry(x, w, null, { padding: 1 });
    const huge: GemmTiles = { bm: 256, bn: 256, bk: 64, tm: 8, tn: 8 };
    expect(4 * huge.bk * (huge.bm + huge.bn)).toBeGreaterThan(device.limits.maxComputeWorkgroupStorageSize);
    expect(gemmFits(g, device, huge)).toEqual({ forward: false, inputGrad: false, weightGrad: false });
    expect(wgradChunks(g, GEMM_TILES.t64x64, device)).toBe(1);
    [x, w].forEach((v) => v.dispose());
  });

  it('passes a finite-difference gradient check (stride 2, padding 1, bias)', async () => {
    await gradCheck(([x, w, b]) => conv3d(x!, w!, b!, { stride: 2, padding: 1, variant: 'gemm' }), [
      { data: randArray(2 * 2 * 5 * 4 * 6, 21), shape: [2, 2, 5, 4, 6] },
      { data: randArray(3 * 2 * 27, 22), shape: [3, 2, 3, 3, 3] },
      { data: randArray(3, 23), shape: [3] },
    ]);
  }, COMPILE_MS);

  it('passes a finite-difference gradient check (stride [1,2,1], anisotropic kernel)', async () => {
    await gradCheck(([x, w]) => conv3d(x!, w!, null, { stride: [1, 2, 1], padding: [1, 0, 1], variant: 'gemm' }), [
      { data: randArray(1 * 3 * 4 * 5 * 6, 31), shape: [1, 3, 4, 5, 6] },
      { data: randArray(2 * 3 * 3 * 2 * 3, 32), shape: [2, 3, 3, 2, 3] },
    ]);
  }, COMPILE_MS);

  it('runs by blocks, wrapped by the split path, beyond a 1 MiB binding', async () => {
    const narrow = await Device.create({ limits: { maxStorageBufferBindingSize: 1 << 20 } });
    const c: Case = { name: 'big', x: [2, 3, 24, 32, 64], w: [2, 3, 3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], bias: true };
    const t = inputs(c, 61);
    const xs = tensor(t.xh, c.x, { device: narrow });
    const ws = tensor(t.wh, c.w, { device: narrow });
    expect(convBlocks(convGeometry(xs, ws, null, { padding: 1 }), narrow, null)).not.toBeNull();
    [xs, ws].forEach((v) => v.dispose());
    const got = await run(t, (x, w, b) => conv3d(x, w, b, { padding: 1, variant: 'gemm' }), narrow);
    compare(got, reference(t), 'gemm by blocks vs host');
    narrow.destroy();
  }, COMPILE_MS);
});

describe('conv3dBiasRelu', () => {
  const fusedCases: Case[] = [cases[0]!, cases[1]!, { ...cases[2]!, bias: false }];
  const variants: Conv3dVariant[] = ['gemm', 'direct'];
  describe.each(fusedCases)('$name', (c) => {
    it.each(variants)('%s: equals relu(conv3d) in value and every gradient', async (variant) => {
      const t = inputs(c, 71);
      const opts = { stride: c.stride, padding: c.pad };
      const unfused = await run(t, (x, w, b) => relu(conv3d(x, w, b, { ...opts, variant: 'direct' })));
      const fused = await run(t, (x, w, b) => conv3dBiasRelu(x, w, b, { ...opts, variant }));
      // Some outputs are negative (masked) and some positive, else the test proves little.
      const zeros = fused.y.filter((v) => v === 0).length;
      expect(zeros).toBeGreaterThan(fused.y.length / 5);
      expect(zeros).toBeLessThan((fused.y.length * 4) / 5);
      compare(fused, unfused, `${variant} fused vs unfused`);
      // And the host reference: relu of the reference conv, gradients of the masked dy.
      const y = refConv3d(t.ref);
      const gm = t.gyh.map((g, i) => (y[i]! > 0 ? g : 0));
      const rg = refConv3dGrads(t.ref, gm);
      compare(fused, { y: y.map((v) => (v > 0 ? v : 0)), gx: rg.gx, gw: rg.gw, gb: t.bh ? rg.gb : null }, `${variant} fused vs host`);
    }, COMPILE_MS);
  });
});
