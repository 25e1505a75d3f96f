import { describe, expect, it, beforeAll } from 'vitest';
import { noGrad, randn, tidy, ShapeError, type Device } from '../../src/index.js';
import { buildModel, presetConfig } from '../../src/hnfnet/index.js';
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
