import { describe, expect, it, beforeAll } from 'vitest';
import { interpolate, loadStateDict, noGrad, randn, saveStateDict, tensor, tidy, ShapeError, type Device, type Tensor } from '../../src/index.js';
import { buildModel, presetConfig, type HnfnetConfig } from '../../src/hnfnet/index.js';
import { getDevice } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

describe('hnfnet model shapes', () => {
  it('tiny maps [N, 4, D, H, W] to [N, 3, D, H, W] for sides that are multiples of 16', async () => {
    const model = buildModel('tiny', { device, seed: 3 }).eval();
    for (const [n, size] of [
      [1, [16, 16, 16]],
      [2, [32, 32, 32]],
      [1, [16, 32, 48]],
    ] as [number, number[]][]) {
      const y = noGrad(() => tidy(() => model.call(randn([n, 4, ...size], { seed: 5, device }))));
      expect(y.shape).toEqual([n, 3, ...size]);
      const v = await y.data();
      expect(v.every(Number.isFinite)).toBe(true);
      // Different voxels get different logits: the network is not a constant.
      const lo = v.reduce((a, b) => Math.min(a, b), Infinity);
      const hi = v.reduce((a, b) => Math.max(a, b), -Infinity);
      expect(hi - lo).toBeGreaterThan(1e-3);
      y.dispose();
    }
    model.dispose();
  });

  it('hnfnetv2-web runs at half resolution inside: the 2×2×2 mean of the input, logits brought back up', async () => {
    const web = buildModel('hnfnetv2-web', { device, seed: 2 }).eval();
    // The same weights in a model that takes the pooled input itself.
    const plain = buildModel({ ...(presetConfig('hnfnetv2-web') as HnfnetConfig), inputStride: 1 }, { device, seed: 9 }).eval();
    loadStateDict(plain, await saveStateDict(web));
    // 64³ rather than less: at 32×32×64 the coarsest branch holds 2 voxels, where instance norm
    // turns float rounding (pooling on the GPU vs here) into visible differences.
    const dims = [64, 64, 64] as const;
    const x = randn([1, 4, ...dims], { seed: 4, device });
    const xv = await x.data();
    const [D, H, W] = dims;
    const pooled = new Float32Array(4 * (D / 2) * (H / 2) * (W / 2));
    for (let c = 0; c < 4; c++)
      for (let z = 0; z < D / 2; z++)
        for (let y = 0; y < H / 2; y++)
          for (let w = 0; w < W / 2; w++) {
            let sum = 0;
            for (let dz = 0; dz < 2; dz++) for (let dy = 0; dy < 2; dy++) for (let dw = 0; dw < 2; dw++) sum += xv[((c * D + 2 * z + dz) * H + 2 * y + dy) * W + 2 * w + dw]!;
            pooled[((c * (D / 2) + z) * (H / 2) + y) * (W / 2) + w] = sum / 8;
          }
    const ref = noGrad(() => plain.call(tensor(pooled, [1, 4, D / 2, H / 2, W / 2], { device })));
    const native = noGrad(() => web.call(x, true));
    const full = noGrad(() => web.call(x));
    const refUp = noGrad(() => interpolate(ref, { size: [...dims] }));
    expect(native.shape).toEqual([1, 3, D / 2, H / 2, W / 2]);
    expect(full.shape).toEqual([1, 3, ...dims]);
    const close = async (a: Tensor, b: Tensor) => {
      const [av, bv] = [await a.data(), await b.data()];
      const scale = bv.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale).toBeGreaterThan(1e-3);
      expect(av.reduce((m, v, i) => Math.max(m, Math.abs(v - bv[i]!)), 0)).toBeLessThanOrEqual(1e-4 * scale);
    };
    await close(native, ref);
    await close(full, refUp);
    // Sides must be multiples of 32: 16 for the four scales, times the input stride.
    const small = randn([1, 4, 16, 16, 16], { device });
    expect(() => noGrad(() => web.call(small))).toThrow(/multiple of 32/);
    for (const t of [x, ref, native, full, refUp, small]) t.dispose();
    web.dispose();
    plain.dispose();
  });

  it('rejects sides that are not multiples of 16, naming the shape and the rule', () => {
    const model = buildModel('tiny', { device }).eval();
    const x = randn([1, 4, 16, 16, 20], { device });
    expect(() => noGrad(() => model.call(x))).toThrow(ShapeError);
    expect(() => noGrad(() => model.call(x))).toThrow(/\[1, 4, 16, 16, 20\].*multiple of 16.*W = 20/);
    const c = randn([1, 3, 16, 16, 16], { device });
    expect(() => noGrad(() => model.call(c))).toThrow(/3 channels, the model takes 4/);
    x.dispose();
    c.dispose();
    model.dispose();
  });

  it('the U-Net baseline needs multiples of 8 (three downsamplings) and says so', () => {
    const model = buildModel({ ...presetConfig('unet3d'), widths: [4, 8, 8, 8] }, { device }).eval();
    const x = randn([1, 4, 8, 8, 12], { device });
    expect(() => noGrad(() => model.call(x))).toThrow(/multiple of 8 \(its deepest level runs at 1\/8\); W = 12 is not/);
    const ok = noGrad(() => tidy(() => model.call(randn([1, 4, 8, 16, 8], { device }))));
    expect(ok.shape).toEqual([1, 3, 8, 16, 8]);
    ok.dispose();
    x.dispose();
    model.dispose();
  });

  it('parameter names are stable, dotted and PyTorch-style', () => {
    const model = buildModel('hnfnetv2', { device });
    const names = model.namedParameters().map(([n]) => n);
    for (const n of [
      'stem.0.conv.weight',
      'stem.0.norm.weight',
      'down.conv.weight',
      'pmf1.branches.0.0.conv1.weight',
      'pmf1.branches.0.0.se.conv1.weight',
      'pmf2.transition.conv.weight',
      'pmf3.branches.1.1.conv2.weight',
      'pmf3.branches.2.0.norm2.bias',
      'pmf4.fuse.0.3.conv.weight',
      'pmf4.fuse.3.0.2.conv.weight',
      'inter_sde.squeeze.2.weight',
      'inter_sde.fuse.0.conv.weight',
      'ema.conv1.weight',
      'ema.conv1.bias',
      'ema.conv2.weight',
      'ema.norm2.weight',
      'up.conv.weight',
      'decoder.1.conv.weight',
      'head.weight',
      'head.bias',
    ]) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('ema.conv2.bias');
    expect(model.namedBuffers().map(([n, t]) => [n, [...t.shape]])).toEqual([['ema.mu', [1, 480, 64]]]);
    expect(new Set(names).size).toBe(names.length);
    expect(model.resolve('pmf3.branches.1.0.conv1.weight')?.kind).toBe('parameter');
    // The same seed builds the same names in the same order (a PyTorch twin relies on it).
    const again = buildModel('hnfnetv2', { device });
    expect(again.namedParameters().map(([n]) => n)).toEqual(names);
    again.dispose();
    model.dispose();
  });
});
