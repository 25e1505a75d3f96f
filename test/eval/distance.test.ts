import { describe, expect, it } from 'vitest';
import { distanceTransform, squaredDistanceTransform, surface } from '../../src/eval/index.js';
import { box, randomBlobs, randomMask, refDistanceTransform, refSurface, rng } from './reference.js';
import type { S3 } from './reference.js';

const SHAPE: S3 = [12, 10, 9];
const SPACING: S3 = [2.0, 1.0, 0.5];

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('surface', () => {
  it('of a 3³ cube inside the volume is all but its centre', () => {
    const s = surface(box([5, 5, 5], [1, 1, 1], [4, 4, 4]), [5, 5, 5]);
    expect(s.reduce((x, y) => x + y, 0)).toBe(26);
    expect(s[(2 * 5 + 2) * 5 + 2]).toBe(0);
  });

  it('counts the volume border as outside', () => {
    // A mask filling the volume has exactly its outer shell as surface: 5³ − 3³.
    const s = surface(new Uint8Array(125).fill(1), [5, 5, 5]);
    expect(s.reduce((x, y) => x + y, 0)).toBe(125 - 27);
    // In a volume one voxel thick, every voxel touches the border.
    expect(surface(new Uint8Array(16).fill(1), [1, 4, 4]).every((x) => x === 1)).toBe(true);
  });

  it('matches the coordinate definition on random masks', () => {
    const r = rng(7);
    for (const density of [0.1, 0.5, 0.9]) {
      const m = randomMask(SHAPE, density, r);
      expect(surface(m, SHAPE)).toEqual(refSurface(m, SHAPE));
    }
  });
});

describe('distance transform', () => {
  it('matches brute force on random features with anisotropic spacing', () => {
    const r = rng(1);
    for (const density of [0.003, 0.02, 0.1, 0.5]) {
      for (let k = 0; k < 3; k++) {
        const f = randomMask(SHAPE, density, r);
        if (!f.some((x) => x)) f[Math.floor(r() * f.length)] = 1;
        expect(maxAbsDiff(distanceTransform(f, SHAPE, SPACING), refDistanceTransform(f, SHAPE, SPACING))).toBeLessThan(1e-9);
      }
    }
  });

  it('matches brute force on blob surfaces', () => {
    const r = rng(2);
    for (let k = 0; k < 4; k++) {
      const f = refSurface(randomBlobs(SHAPE, 3, r), SHAPE);
      expect(maxAbsDiff(distanceTransform(f, SHAPE, SPACING), refDistanceTransform(f, SHAPE, SPACING))).toBeLessThan(1e-9);
    }
  });

  it('gives exact squared distances from a single point', () => {
    const shape: S3 = [4, 5, 6];
    const f = new Uint8Array(120);
    f[(1 * 5 + 2) * 6 + 3] = 1; // (d, h, w) = (1, 2, 3)
    const g = squaredDistanceTransform(f, shape, [2, 1, 0.5]);
    // to (0, 0, 0): (2·1)² + (1·2)² + (0.5·3)² = 4 + 4 + 2.25
    expect(g[0]).toBe(10.25);
    expect(g[(1 * 5 + 2) * 6 + 3]).toBe(0);
    // to (3, 4, 5): (2·2)² + (1·2)² + (0.5·2)² = 16 + 4 + 1
    expect(g[(3 * 5 + 4) * 6 + 5]).toBe(21);
  });

  it('is infinite everywhere without features', () => {
    expect(distanceTransform(new Uint8Array(60), [3, 4, 5], [1, 1, 1]).every((x) => x === Infinity)).toBe(true);
  });

  it('handles one-voxel-thick axes', () => {
    const f = Uint8Array.of(0, 0, 1, 0, 0, 0, 1);
    expect(Array.from(distanceTransform(f, [1, 1, 7], [1, 1, 2]))).toEqual([4, 2, 0, 2, 4, 2, 0]);
    expect(Array.from(distanceTransform(f, [7, 1, 1], [3, 1, 1]))).toEqual([6, 3, 0, 3, 6, 3, 0]);
  });

  it('rejects a shape that does not fit the array and a bad spacing', () => {
    expect(() => distanceTransform(new Uint8Array(10), [2, 2, 2], [1, 1, 1])).toThrow(/holds 8 voxels/);
    expect(() => distanceTransform(new Uint8Array(8), [2, 2, 2], [1, 0, 1])).toThrow(/spacing/);
  });
});
