/**
 * The instance-norm statistics' subgroup variant (a tuner candidate where the adapter has
 * `subgroups`) against the float64 reference the strided pass is tested with, on its own
 * and through the tuner inside instanceNorm3d (also beyond one binding under
 * `npm run test:small-binding`, where the norm runs by plane blocks).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  backward, Device, INSTANCE_NORM_MOMENTS, instanceNorm3d, instanceNormStats, keyString, MemoryStore, momentsRequest, tensor, TuneCache, ArgumentError,
  type MomentsVariant, type Tensor,
} from '../../src/index.js';
import { expectClose, getDevice, randArray } from '../helpers.js';
import { reference } from './instance-norm-ref.js';

let device: Device;
const variant = (name: string): MomentsVariant => INSTANCE_NORM_MOMENTS.find((v) => v.name === name)!;

beforeAll(async () => {
  device = await getDevice();
});

afterEach(() => {
  device.configureTuning({ mode: 'off' });
});

/** Statistics of one variant against the reference's mean and variance. */
async function checkStats(shape: number[], seed: number, v: MomentsVariant): Promise<void> {
  const n = shape.reduce((a, d) => a * d, 1);
  const xd = randArray(n, seed, -2, 3);
  const x = tensor(xd, shape);
  const st = instanceNormStats(x, 1e-5, v);
  const got = await st.data();
  const ref = reference(xd, shape, null, null, new Float32Array(n), 1e-5);
  const planes = shape[0]! * shape[1]!;
  const mean = Float64Array.from({ length: planes }, (_, p) => got[4 * p]! + got[4 * p + 1]!);
  const variance = Float64Array.from({ length: planes }, (_, p) => got[4 * p + 3]!);
  const rstd = Float64Array.from({ length: planes }, (_, p) => got[4 * p + 2]!);
  expectClose(mean, ref.mean, 1e-5, 1e-5, `${v.name} mean`);
  expectClose(variance, ref.variance, 1e-5, 1e-6, `${v.name} variance`);
  expectClose(rstd, Float64Array.from(ref.variance, (vv) => 1 / Math.sqrt(vv + 1e-5)), 1e-5, 1e-6, `${v.name} 1/σ`);
  x.dispose();
  st.dispose();
}

const SHAPES: [number[], number][] = [
  [[2, 3, 5, 6, 7], 1], // scalar loads, one workgroup per plane with lanes to spare
  [[2, 3, 4, 4, 2], 2], // vec4 loads
  [[1, 1, 40, 33, 29], 3], // one long plane: several workgroups per plane
  [[1, 2, 64, 32, 16], 4], // long vec4 planes
  [[4, 37, 2, 2, 2], 5], // many small planes
];

describe('instance-norm statistics: subgroup variant', () => {
  it('is a candidate exactly where the device has subgroups, and the shipped default stays strided', () => {
    const req = momentsRequest(device, 32, 4096);
    expect(req.fallback).toBe('strided');
    expect(req.candidates.map((c) => c.name)).toEqual(device.features.has('subgroups') ? ['strided', 'subgroup'] : ['strided']);
  });

  it('float16 planes are tuned under a key of their own, and their trial runs on float16 data', async (ctx) => {
    const f32 = momentsRequest(device, 8, 4096);
    const f16 = momentsRequest(device, 8, 4096, 'float16');
    expect(keyString({ ...f16.key, adapter: device.adapterInfo })).not.toBe(keyString({ ...f32.key, adapter: device.adapterInfo }));
    expect(f16.key.attrs).toContain('float16');
    if (!device.features.has('shader-f16')) ctx.skip();
    const trial = f16.trial();
    for (const c of f16.candidates) trial.run(c.impl);
    trial.dispose();
    await device.sync();
  });

  it('the strided pass matches the reference (the baseline the variant is held to)', async () => {
    for (const [shape, seed] of SHAPES) await checkStats(shape, seed, variant('strided'));
  });

  it('the subgroup pass matches the reference', async (ctx) => {
    if (!device.features.has('subgroups')) ctx.skip();
    for (const [shape, seed] of SHAPES) await checkStats(shape, seed, variant('subgroup'));
  });

  it('without the feature, asking for the subgroup variant is a clear error', async (ctx) => {
    if (device.features.has('subgroups')) {
      // A device that did not get the feature: the same adapter, features left out.
      const adapter = await device.gpu!.requestAdapter();
      const bare = await Device.create({ gpu: device.gpu!, adapter: adapter!, device: await adapter!.requestDevice() });
      expect(momentsRequest(bare, 8, 64).candidates.map((c) => c.name)).toEqual(['strided']);
      const x = tensor(randArray(64, 9), [1, 1, 4, 4, 4], { device: bare });
      expect(() => instanceNormStats(x, 1e-5, variant('subgroup'))).toThrow(ArgumentError);
      expect(() => instanceNormStats(x, 1e-5, variant('subgroup'))).toThrow(/variant "subgroup" needs a feature/);
      x.dispose();
      bare.destroy();
    } else ctx.skip();
  });

  it('chosen by the tuner, runs inside instanceNorm3d (by plane blocks beyond one binding) and matches the reference', async (ctx) => {
    if (!device.features.has('subgroups')) ctx.skip();
    // 3·4 planes of 32³: 1.5 MiB, over the 1 MiB binding of the small-binding suite.
    const shape = [3, 4, 32, 32, 32];
    const n = shape.reduce((a, d) => a * d, 1);
    const store = new MemoryStore();
    const cache = new TuneCache(store);
    // The plane blocks of a small binding have fewer planes per call: cache the winner for every count it may see.
    for (const planes of [1, 2, 4, 8, 16]) {
      const key = momentsRequest(device, planes, 32 ** 3).key;
      cache.set(keyString({ ...key, adapter: device.adapterInfo }), { variant: 'subgroup', ms: { subgroup: 1 }, timer: 'gpu', at: new Date().toISOString() });
    }
    await cache.save();
    device.configureTuning({ mode: 'on', store });
    const kernels: string[] = [];
    device.dispatchHook = (k) => kernels.push(k);
    const xd = randArray(n, 11, -2, 3);
    const wd = randArray(4, 12, 0.5, 1.5);
    const bd = randArray(4, 13);
    const gd = randArray(n, 14);
    const x = tensor(xd, shape, { requiresGrad: true });
    const w = tensor(wd, [4], { requiresGrad: true });
    const b = tensor(bd, [4], { requiresGrad: true });
    const y = instanceNorm3d(x, w, b);
    const g = tensor(gd, shape);
    backward(y, g);
    device.dispatchHook = null;
    expect(kernels).toContain('instance_norm_moments_subgroup_vec4');
    expect(kernels).not.toContain('instance_norm_moments_vec4');
    expect(device.tuner.pending).toBe(0);
    const ref = reference(xd, shape, wd, bd, gd, 1e-5);
    expectClose(await y.data(), ref.y, 1e-4, 1e-4, 'y');
    expectClose(await x.grad!.data(), ref.dx, 1e-4, 1e-4, 'dx');
    expectClose(await w.grad!.data(), ref.dw, 1e-4, 1e-3, 'dweight');
    for (const t of [x, w, b, y, g] as Tensor[]) {
      t.zeroGrad();
      t.dispose();
    }
  });

  it('the tuner measures both variants on the real shape and keeps the faster', async (ctx) => {
    if (!device.features.has('subgroups')) ctx.skip();
    const store = new MemoryStore();
    const tuner = device.configureTuning({ mode: 'on', store, reps: 2 });
    tuner.choose(momentsRequest(device, 8, 16 ** 3));
    expect(tuner.pending).toBe(1);
    const r = await tuner.tunePending();
    const row = r.rows.find((x) => x.op === 'instance_norm')!;
    expect(row.failed).toEqual({});
    expect(Object.keys(row.ms).sort()).toEqual(['strided', 'subgroup']);
    expect(row.variant).toBe(Object.entries(row.ms).reduce((a, b2) => (b2[1] < a[1] ? b2 : a))[0]);
  });
});
