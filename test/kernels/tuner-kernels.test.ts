/**
 * conv3d and bmm through the tuner: with tuning off they run exactly today's kernels; a
 * measured (or cached) variant gives the reference result within float rounding; a real
 * measurement of conv3d passes picks its fastest candidate.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  backward, bmm, conv3d, convGeometryOf, convRequest, Device, isCpuAdapter, keyString, MemoryStore, tensor, TuneCache, CONV3D_CANDIDATES,
  type Conv3dVariant, type ConvPassName, type Tensor,
} from '../../src/index.js';
import { expectClose, getDevice, randArray } from '../helpers.js';
import { refConv3d, refConv3dGrads } from './conv3d-ref.js';

const XS = [1, 3, 6, 5, 9];
const WS = [5, 3, 3, 3, 3];
const OPTS = { stride: 1, padding: 1 } as const;
const PASSES: ConvPassName[] = ['forward', 'inputGrad', 'weightGrad'];

interface Run {
  y: Float32Array;
  gx: Float32Array;
  gw: Float32Array;
  gb: Float32Array;
  kernels: string[];
}

async function runConv(device: Device, xh: Float32Array, wh: Float32Array, bh: Float32Array, gyh: Float32Array, variant?: Conv3dVariant): Promise<Run> {
  const kernels: string[] = [];
  device.dispatchHook = (k) => kernels.push(k);
  const x = tensor(xh, XS, { requiresGrad: true });
  const w = tensor(wh, WS, { requiresGrad: true });
  const b = tensor(bh, [WS[0]!], { requiresGrad: true });
  const y = conv3d(x, w, b, { ...OPTS, ...(variant ? { variant } : {}) });
  const gy = tensor(gyh, y.shape);
  backward(y, gy);
  device.dispatchHook = null;
  const out = { y: await y.data(), gx: await x.grad!.data(), gw: await w.grad!.data(), gb: await b.grad!.data(), kernels: [...new Set(kernels)] };
  for (const t of [x, w, b, y, gy] as Tensor[]) {
    t.zeroGrad();
    t.dispose();
  }
  return out;
}

describe('kernels through the tuner', () => {
  let device: Device;
  // The CPU class's first default needs subgroups of 8 lanes; without them the plain tiling runs.
  const dflt = (): string => (!isCpuAdapter(device) ? 'tiled-gpu' : device.features.has('subgroups') && device.subgroupMinSize >= 8 ? 'tiled-16x8-wg16-sg8' : 'tiled-cpu');
  beforeAll(async () => {
    device = await getDevice();
  });
  afterEach(() => {
    device.configureTuning({ mode: 'off' });
  });

  const xh = randArray(XS.reduce((a, b) => a * b), 1);
  const wh = randArray(WS.reduce((a, b) => a * b), 2);
  const bh = randArray(WS[0]!, 3);
  const gyh = randArray(5 * 6 * 5 * 9, 4);

  it('with tuning off, conv3d runs the first shipped default the device offers (direct where no tiling fits), with the plain tiling\'s numbers', async () => {
    device.configureTuning({ mode: 'off' });
    const g = convGeometryOf(XS, WS, [5], OPTS);
    const chosen = PASSES.map((pass) => device.tuner.choose(convRequest(g, pass, device)));
    for (const c of chosen) expect(c.name).toBe(dflt());
    const off = await runConv(device, xh, wh, bh, gyh);
    const kernels = (p: ConvPassName, i: number): string[] => chosen[i]!.kernels!(g, [p], device).map((k) => k.name);
    expect(off.kernels.filter((k) => k.startsWith('conv3d_tiled') || k.startsWith('conv3d_wgrad')).sort()).toEqual([...new Set(PASSES.flatMap(kernels))].filter((k) => k.startsWith('conv3d_tiled') || k.startsWith('conv3d_wgrad')).sort());
    // The subgroup default shares loads but keeps the order of every sum: the plain tiling's numbers bit for bit.
    const forced = await runConv(device, xh, wh, bh, gyh, isCpuAdapter(device) ? 'cpu' : 'gpu');
    for (const k of ['y', 'gx', 'gw', 'gb'] as const) expect(off[k]).toEqual(forced[k]);
    // The requests are kept per device and geometry: asking twice costs no fit tests.
    expect(convRequest(g, 'forward', device)).toBe(convRequest(g, 'forward', device));
    // On a device whose binding is too small for the padded copy, the default is the direct kernels, as before.
    const small = await Device.create({ gpu: device.gpu ?? undefined, limits: { maxStorageBufferBindingSize: 1 << 20 }, tune: { mode: 'off' } });
    const big = convGeometryOf([1, 1, 64, 64, 64], [1, 1, 3, 3, 3], null, { padding: 1 });
    expect(small.tuner.choose(convRequest(big, 'forward', small)).name).toBe('direct');
    // Weights that fit a binding padded to 4 output channels but not to the subgroup tiling's 8: the next default runs.
    const wide = convGeometryOf([1, 40000, 1, 1, 4], [4, 40000, 1, 1, 1], null, {});
    if (isCpuAdapter(small)) expect(small.tuner.choose(convRequest(wide, 'forward', small)).name).toBe('tiled-cpu');
    small.destroy();
  });

  it('rows of at most 8 outputs default to the 8-voxel tiling on CPU adapters (forward and dgrad), with the plain tiling\'s numbers', async () => {
    device.configureTuning({ mode: 'off' });
    const narrow = isCpuAdapter(device) && device.features.has('subgroups') && device.subgroupMinSize >= 8 ? 'tiled-8x16-wg8-sg8' : dflt();
    // Stride 1 on rows of 8; stride 2 on rows of 16 (8 outputs, and dgrad phases of 8 inputs); rows of 9 stay on the default.
    const cases: [number[], 1 | 2, string][] = [
      [[1, 3, 4, 5, 8], 1, narrow],
      [[1, 3, 4, 6, 16], 2, narrow],
      [[1, 3, 4, 5, 9], 1, dflt()],
    ];
    for (const [xs, stride, want] of cases) {
      const ws = [5, 3, 3, 3, 3];
      const g = convGeometryOf(xs, ws, [5], { stride, padding: 1 });
      expect(device.tuner.choose(convRequest(g, 'forward', device)).name, `${xs} s${stride} forward`).toBe(want);
      expect(device.tuner.choose(convRequest(g, 'inputGrad', device)).name, `${xs} s${stride} dgrad`).toBe(want);
      expect(device.tuner.choose(convRequest(g, 'weightGrad', device)).name, `${xs} s${stride} wgrad`).toBe(dflt());
      const run = async (variant?: Conv3dVariant): Promise<Float32Array[]> => {
        const x = tensor(randArray(xs.reduce((a, b) => a * b), 21), xs, { requiresGrad: true });
        const w = tensor(randArray(ws.reduce((a, b) => a * b), 22), ws, { requiresGrad: true });
        const y = conv3d(x, w, null, { stride, padding: 1, ...(variant ? { variant } : {}) });
        const gy = tensor(randArray(y.size, 23), y.shape);
        backward(y, gy);
        const out = [await y.data(), await x.grad!.data(), await w.grad!.data()];
        for (const t of [x, w, y, gy]) {
          t.zeroGrad();
          t.dispose();
        }
        return out;
      };
      const [untuned, plain] = [await run(), await run(isCpuAdapter(device) ? 'cpu' : 'gpu')];
      for (let i = 0; i < 3; i++) expect(untuned[i], `${xs} s${stride} output ${i}`).toEqual(plain[i]);
    }
  });

  it('a conv3d on measured variants equals the untuned one and the host reference within rounding', async () => {
    device.configureTuning({ mode: 'off' });
    const untuned = await runConv(device, xh, wh, bh, gyh);
    // Cache entries that name non-default variants for each pass, as a tuning run would leave them.
    const store = new MemoryStore();
    const cache = new TuneCache(store);
    const g = convGeometryOf(XS, WS, [5], OPTS);
    const pick: Record<ConvPassName, string> = { forward: 'tiled-8x8', inputGrad: 'tiled-gpu-wg256', weightGrad: 'tiled-cpu-wg128' };
    for (const pass of PASSES) {
      const req = convRequest(g, pass, device);
      cache.set(keyString({ ...req.key, adapter: device.adapterInfo }), { variant: pick[pass], ms: { [pick[pass]]: 1 }, timer: 'gpu', at: new Date().toISOString() });
    }
    await cache.save();
    device.configureTuning({ mode: 'on', store });
    const tuned = await runConv(device, xh, wh, bh, gyh);
    expect(tuned.kernels).toEqual(expect.arrayContaining(['conv3d_tiled_8x8_k3s1', 'conv3d_tiled_4x4_wg256_k3s1', 'conv3d_wgrad_8_wg128_k3x3s1']));
    expect(device.tuner.pending).toBe(0);
    for (const k of ['y', 'gx', 'gw', 'gb'] as const) expectClose(tuned[k], untuned[k], 1e-5, 1e-5, `tuned vs untuned ${k}`);
    const rc = { x: xh, xShape: XS, w: wh, wShape: WS, b: bh, stride: [1, 1, 1] as const, pad: [1, 1, 1] as const };
    const ref = refConv3dGrads(rc, gyh);
    expectClose(tuned.y, refConv3d(rc), 1e-4, 1e-4, 'y vs host');
    expectClose(tuned.gx, ref.gx, 1e-4, 1e-4, 'gx vs host');
    expectClose(tuned.gw, ref.gw, 1e-4, 1e-3, 'gw vs host');
  });

  it('the subgroup variants (weight and dy loads shared within a subgroup) equal the host reference in every pass, or are not offered', async () => {
    const sgNames = CONV3D_CANDIDATES.filter((c) => c.name.includes('-sg')).map((c) => c.name);
    expect(sgNames.length).toBeGreaterThan(0);
    // Stride 1 (one dgrad phase) and stride 2 (eight phases, kw 1 and 2), each fewer tiles than a workgroup.
    for (const stride of [1, 2] as const) {
      const g = convGeometryOf(XS, WS, [5], { stride, padding: 1 });
      const rc = { x: xh, xShape: XS, w: wh, wShape: WS, b: bh, stride: [stride, stride, stride] as const, pad: [1, 1, 1] as const };
      const yRef = refConv3d(rc);
      const gyS = randArray(yRef.length, 7);
      const gRef = refConv3dGrads(rc, gyS);
      for (const name of sgNames) {
        const c = CONV3D_CANDIDATES.find((k) => k.name === name)!;
        const fits = c.fits!(g, device);
        const usable = device.features.has('subgroups') && device.subgroupMinSize >= (name.endsWith('sg8') ? 8 : 4);
        expect(fits.forward, name).toBe(usable);
        if (!usable) continue;
        const x = tensor(xh, XS);
        const w = tensor(wh, WS);
        const b = tensor(bh, [WS[0]!]);
        const gy = tensor(gyS, [1, WS[0]!, ...g.out]);
        const y = c.passes.forward(x, w, b, g);
        const gx = c.passes.inputGrad(gy, w, g);
        const gw = c.passes.weightGrad(x, gy, g);
        expectClose(await y.data(), yRef, 1e-4, 1e-4, `${name} s${stride} y vs host`);
        expectClose(await gx.data(), gRef.gx, 1e-4, 1e-4, `${name} s${stride} gx vs host`);
        expectClose(await gw.data(), gRef.gw, 1e-4, 1e-3, `${name} s${stride} gw vs host`);
        for (const t of [x, w, b, gy, y, gx, gw]) t.dispose();
      }
    }
    // wgrad with more (ci, kd) pairs than a workgroup (24·3 = 72 > 64): two workgroups per chunk of rows.
    const xs2 = [2, 24, 3, 4, 6];
    const ws2 = [6, 24, 3, 3, 3];
    const x2 = randArray(xs2.reduce((a, b) => a * b), 11);
    const w2 = randArray(ws2.reduce((a, b) => a * b), 12);
    const g2 = convGeometryOf(xs2, ws2, null, { padding: 1 });
    const gy2 = randArray(2 * 6 * 3 * 4 * 6, 13);
    const ref2 = refConv3dGrads({ x: x2, xShape: xs2, w: w2, wShape: ws2, b: null, stride: [1, 1, 1], pad: [1, 1, 1] }, gy2);
    for (const name of sgNames) {
      const c = CONV3D_CANDIDATES.find((k) => k.name === name)!;
      if (!c.fits!(g2, device).weightGrad) continue;
      const x = tensor(x2, xs2);
      const gy = tensor(gy2, [2, 6, 3, 4, 6]);
      const gw = c.passes.weightGrad(x, gy, g2);
      expectClose(await gw.data(), ref2.gw, 1e-4, 1e-3, `${name} gw, 72 (ci, kd) pairs`);
      for (const t of [x, gy, gw]) t.dispose();
    }
  });

  it('measures conv3d passes on their real shapes and picks the fastest', async () => {
    const store = new MemoryStore();
    const tuner = device.configureTuning({ mode: 'on', store, reps: 2 });
    const g = convGeometryOf([1, 4, 8, 8, 8], [4, 4, 3, 3, 3], null, { stride: 2, padding: 1 });
    const list = CONV3D_CANDIDATES.filter((c) => ['tiled-cpu', 'tiled-gpu', 'direct'].includes(c.name));
    for (const pass of PASSES) tuner.choose(convRequest(g, pass, device, list));
    expect(tuner.pending).toBe(3);
    const r = await tuner.tunePending();
    expect(r.rows.map((x) => x.family).sort()).toEqual(['dgrad', 'forward', 'wgrad']);
    for (const row of r.rows) {
      expect(row.failed).toEqual({});
      expect(Object.keys(row.ms).sort()).toEqual(['direct', 'tiled-cpu', 'tiled-gpu']);
      const best = Object.entries(row.ms).reduce((a, b) => (b[1] < a[1] ? b : a))[0];
      expect(row.variant).toBe(best);
      expect(row.timer).toBe(device.features.has('timestamp-query') ? 'gpu' : 'wall');
    }
    expect(new TuneCache(store).size).toBe(3);
  });

  it('bmm on a cached variant equals the host product', async () => {
    const [B, M, K, N] = [2, 13, 7, 9];
    const ah = randArray(B * M * K, 5);
    const bh2 = randArray(B * K * N, 6);
    const store = new MemoryStore();
    const cache = new TuneCache(store);
    cache.set(keyString({ op: 'bmm', family: 'nn', shape: [2, 16, 16, 8], attrs: '', adapter: device.adapterInfo }), { variant: 'bmm-8x4-wg8', ms: { 'bmm-8x4-wg8': 1 }, timer: 'gpu', at: new Date().toISOString() });
    await cache.save();
    device.configureTuning({ mode: 'on', store });
    const kernels: string[] = [];
    device.dispatchHook = (k) => kernels.push(k);
    const a = tensor(ah, [B, M, K]);
    const b = tensor(bh2, [B, K, N]);
    const c = bmm(a, b);
    const got = await c.data();
    device.dispatchHook = null;
    expect(kernels).toContain('bmm_8x4_wg8');
    const want = new Float32Array(B * M * N);
    for (let z = 0; z < B; z++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += ah[(z * M + i) * K + k]! * bh2[(z * K + k) * N + j]!;
      want[(z * M + i) * N + j] = s;
    }
    expectClose(got, want, 1e-5, 1e-5, 'bmm');
    [a, b, c].forEach((t) => t.dispose());
  });
});
