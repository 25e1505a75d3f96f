import { beforeAll, describe, expect, it } from 'vitest';
import { addScalar, cat, scale, slice, type Tensor } from '../../src/index.js';
import { blendWeights, flipSets, slidingWindowInference, windowStarts } from '../../src/infer/sliding-window.js';
import { regionsToSegmentation } from '../../src/infer/postprocess.js';
import { LABELS } from '../../src/data/brats-case.js';
import { getDevice, randArray } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

describe('window placement and weights', () => {
  it('windows cover every voxel, step by window·(1−overlap), the last pulled back inside', () => {
    for (const [size, win, ov] of [[100, 32, 0.5], [33, 32, 0.5], [32, 32, 0.25], [10, 32, 0.5], [155, 128, 0.5], [240, 128, 0.25]] as const) {
      const s = windowStarts(size, win, ov);
      const covered = new Uint8Array(Math.max(size, win));
      for (const a of s) for (let i = 0; i < win; i++) covered[a + i] = 1;
      expect(covered.slice(0, size).every((v) => v === 1)).toBe(true);
      expect(Math.max(...s) + win).toBe(Math.max(size, win));
      if (size > win) expect(s[1]! - s[0]!).toBe(Math.min(Math.floor(win * (1 - ov)), size - win));
    }
    expect(windowStarts(100, 32, 0.5)).toEqual([0, 16, 32, 48, 64, 68]);
  });

  it('gaussian weights peak in the centre, are symmetric, and never zero', () => {
    const w = blendWeights([5, 4, 6], 'gaussian', 0.125);
    expect(Math.min(...w)).toBeGreaterThan(0);
    const at = (d: number, h: number, x: number) => w[(d * 4 + h) * 6 + x]!;
    expect(at(2, 1, 2)).toBeCloseTo(at(2, 2, 3), 6);
    expect(at(0, 0, 0)).toBeCloseTo(at(4, 3, 5), 6);
    expect(at(2, 1, 2)).toBeGreaterThan(at(0, 1, 2));
    expect(Array.from(blendWeights([2, 2, 2], 'constant'))).toEqual(new Array(8).fill(1));
  });

  it('tta 8 is identity plus the seven flip combinations', () => {
    const s = flipSets(8);
    expect(s.length).toBe(8);
    expect(new Set(s.map((x) => x.join(','))).size).toBe(8);
    expect(flipSets(1)).toEqual([[]]);
    expect(() => flipSets(3)).toThrow(/tta must be 1 or 8/);
  });
});

describe('sliding-window inference', () => {
  const shape = [2, 13, 10, 21] as const; // D smaller than some windows, odd sizes
  const image = randArray(2 * 13 * 10 * 21, 3);

  it('a constant model gives a constant output everywhere, edges included', async () => {
    const constant = (x: Tensor) => addScalar(scale(slice(x, 1, 0, 1), 0), 0.25);
    for (const blend of ['gaussian', 'constant'] as const) {
      const { output, channels } = await slidingWindowInference(image, shape, [constant], { window: [8, 16, 8], overlap: 0.5, blend, activation: 'none', batchSize: 3 });
      expect(channels).toBe(1);
      expect(output.length).toBe(13 * 10 * 21);
      for (const v of output) expect(v).toBeCloseTo(0.25, 6);
    }
  });

  it('TTA of a flip-equivariant function equals the function, with an ensemble of two', async () => {
    // Voxel-wise functions commute with flips: the TTA average must give them back exactly.
    const f = (x: Tensor) => cat([slice(x, 1, 1, 2), scale(slice(x, 1, 0, 1), 2)], 1);
    const g = (x: Tensor) => cat([slice(x, 1, 1, 2), scale(slice(x, 1, 0, 1), 2)], 1);
    const progress: number[] = [];
    const { output, channels } = await slidingWindowInference(image, shape, [f, g], {
      window: 8,
      overlap: 0.25,
      tta: 8,
      activation: 'none',
      onProgress: (d, t) => progress.push(d / t),
    });
    expect(channels).toBe(2);
    const n = 13 * 10 * 21;
    for (let i = 0; i < n; i += 7) {
      expect(output[i]).toBeCloseTo(image[n + i]!, 4);
      expect(output[n + i]).toBeCloseTo(2 * image[i]!, 4);
    }
    expect(progress.at(-1)).toBe(1);
  });

  it('a cancelled run stops with a clear error', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(slidingWindowInference(image, shape, [(x) => slice(x, 1, 0, 1)], { window: 8, signal: ac.signal })).rejects.toThrow(/cancelled/);
  });
});

describe('post-processing', () => {
  it('regions → labels in the order ED, NCR, ET, and a small ET becomes NCR', () => {
    const n = 400;
    const probs = new Float32Array(3 * n);
    for (let i = 0; i < 300; i++) probs[i] = 0.9; // WT
    for (let i = 0; i < 250; i++) probs[n + i] = 0.8; // TC
    for (let i = 0; i < 210; i++) probs[2 * n + i] = 0.7; // ET (210 voxels)
    let l = regionsToSegmentation(probs, n);
    expect(l[0]).toBe(LABELS.ET);
    expect(l[220]).toBe(LABELS.NCR);
    expect(l[260]).toBe(LABELS.ED);
    expect(l[350]).toBe(0);
    l = regionsToSegmentation(probs, n, { minEtVoxels: 211 });
    expect(l[0]).toBe(LABELS.NCR);
    expect(l.filter((v) => v === LABELS.ET).length).toBe(0);
  });
});
