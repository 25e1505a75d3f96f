import { describe, expect, it } from 'vitest';
import { HD95_ONE_EMPTY, hausdorffPercentile, hd95, percentile, surfaceDistances } from '../../src/eval/index.js';
import { ball, box, randomBlobs, randomMask, refPercentile, refSurfaceDistances, rng } from './reference.js';
import type { S3 } from './reference.js';

const SHAPE: S3 = [12, 10, 9];
const SPACING: S3 = [2.0, 1.0, 0.5];

function sorted(v: ArrayLike<number>): number[] {
  return Array.from(v).sort((x, y) => x - y);
}

function histogram(v: ArrayLike<number>): Record<string, number> {
  const h: Record<string, number> = {};
  for (const x of Array.from(v)) h[String(x)] = (h[String(x)] ?? 0) + 1;
  return h;
}

describe('percentile', () => {
  it('matches numpy.percentile (linear)', () => {
    // np.percentile([3, 1, 2, 10], 95) = 8.95; ([1, 2, 3, 4], 95) = 3.85; ([0, 10], 95) = 9.5
    expect(percentile([3, 1, 2, 10], 95)).toBeCloseTo(8.95, 14);
    expect(percentile([1, 2, 3, 4], 95)).toBeCloseTo(3.85, 14);
    expect(percentile([0, 10], 95)).toBe(9.5);
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([1, 2], 100)).toBe(2);
    expect(percentile([1, 2], 0)).toBe(1);
    expect(percentile([], 95)).toBeNaN();
  });
});

describe('hd95 against all-pairs brute force', () => {
  it('agrees to 1e-9 on random masks with spacing [2, 1, 0.5]', () => {
    const r = rng(11);
    let cases = 0;
    for (const [da, db] of [
      [0.05, 0.05],
      [0.2, 0.4],
      [0.6, 0.3],
      [0.01, 0.9],
    ] as const) {
      for (let k = 0; k < 3; k++) {
        const a = randomMask(SHAPE, da, r);
        const b = randomMask(SHAPE, db, r);
        const ref = refSurfaceDistances(a, b, SHAPE, SPACING);
        if (ref.length === 0) continue;
        const got = surfaceDistances(a, b, SHAPE, SPACING);
        expect(got.length).toBe(ref.length);
        const gs = sorted(got);
        const rs = sorted(ref);
        for (let i = 0; i < rs.length; i++) expect(Math.abs(gs[i]! - rs[i]!)).toBeLessThan(1e-9);
        expect(Math.abs(hd95(a, b, SHAPE, SPACING) - refPercentile(ref, 95))).toBeLessThan(1e-9);
        cases++;
      }
    }
    expect(cases).toBe(12);
  });

  it('agrees to 1e-9 on random blobs, which stress the bounding-box crop', () => {
    const r = rng(12);
    for (let k = 0; k < 8; k++) {
      const a = randomBlobs(SHAPE, 1 + (k % 3), r);
      const b = randomBlobs(SHAPE, 1 + ((k + 1) % 3), r);
      const ref = refSurfaceDistances(a, b, SHAPE, SPACING);
      expect(Math.abs(hd95(a, b, SHAPE, SPACING) - refPercentile(ref, 95))).toBeLessThan(1e-9);
      expect(Math.abs(hd95(b, a, SHAPE, SPACING) - refPercentile(ref, 95))).toBeLessThan(1e-9);
      expect(Math.abs(hausdorffPercentile(a, b, SHAPE, SPACING, 100) - Math.max(...ref))).toBeLessThan(1e-9);
    }
  });
});

describe('hd95 on shapes with known distances', () => {
  // A 6³ cube at [2, 8)³ and the same cube moved 3 voxels along W, to w ∈ [5, 11).
  // From each cube's surface to the other's (by symmetry the same both ways), with W spacing s:
  //   20 side columns × w = 2, 3, 4 → 3s, 2s, 1s (straight along W to the other's face);
  //   20 side columns × w = 5, 6, 7 → 0 (they lie on the other's side walls);
  //   16 face voxels at w = 2 → 3s;
  //   16 face voxels at w = 7, inside the other cube → min(2s, distance to its side walls):
  //      12 of them are 1 voxel from a side wall, the central 4 are 2.
  const shape: S3 = [10, 10, 14];
  const a = box(shape, [2, 2, 2], [8, 8, 8]);
  const b = box(shape, [2, 2, 5], [8, 8, 11]);

  it('gives the hand-counted distance histogram with isotropic spacing', () => {
    const d = surfaceDistances(a, b, shape, [1, 1, 1]);
    expect(d.length).toBe(2 * 152);
    // 0: 2·60; 1: 2·(20 + 12); 2: 2·(20 + 4); 3: 2·(20 + 16)
    expect(histogram(d)).toEqual({ '0': 120, '1': 64, '2': 48, '3': 72 });
    // Ranks 232..303 are 3, and 0.95·303 = 287.85.
    expect(hd95(a, b, shape, [1, 1, 1])).toBe(3);
    // 0.5·303 = 151.5 falls among the 1s (120..183), 0.7·303 = 212.1 among the 2s (184..231).
    expect(hausdorffPercentile(a, b, shape, [1, 1, 1], 50)).toBe(1);
    expect(hausdorffPercentile(a, b, shape, [1, 1, 1], 70)).toBe(2);
  });

  it('scales only the W distances with W spacing 2 mm', () => {
    const d = surfaceDistances(a, b, shape, [1, 1, 2]);
    // 0: 2·60; 1: 2·12; 2: 2·(20 + 4); 4: 2·20; 6: 2·(20 + 16)
    expect(histogram(d)).toEqual({ '0': 120, '1': 24, '2': 48, '4': 40, '6': 72 });
    expect(hd95(a, b, shape, [1, 1, 2])).toBe(6);
    // Rank 0.4·303 = 121.2 falls among the 1s (ranks 120..143).
    expect(hausdorffPercentile(a, b, shape, [1, 1, 2], 40)).toBe(1);
  });

  it('measures between single voxels in mm', () => {
    const s: S3 = [6, 7, 3];
    const p = new Uint8Array(126);
    const q = new Uint8Array(126);
    p[(1 * 7 + 1) * 3 + 1] = 1; // (1, 1, 1)
    q[(4 * 7 + 5) * 3 + 1] = 1; // (4, 5, 1)
    expect(hd95(p, q, s, [1, 1, 1])).toBe(5);
    expect(hd95(p, q, s, [2, 1, 0.5])).toBe(Math.sqrt(6 * 6 + 4 * 4));
  });

  it('is 0 for identical masks and for a ball against itself', () => {
    const s: S3 = [20, 20, 20];
    const m = ball(s, [10, 9, 11], 6);
    expect(hd95(m, m, s, [1.5, 1, 0.7])).toBe(0);
  });

  it('is the radius difference for concentric cubes', () => {
    // Cube [4, 16)³ and cube [6, 14)³: every outer face lies 2 voxels from the inner face.
    const s: S3 = [20, 20, 20];
    const outer = box(s, [4, 4, 4], [16, 16, 16]);
    const inner = box(s, [6, 6, 6], [14, 14, 14]);
    const d = surfaceDistances(outer, inner, s, [1, 1, 1]);
    // Outer-surface voxels at a corner region are farther (up to 2√3), so the 95th percentile
    // sits between 2 and 2√3; the brute force settles it.
    const ref = refSurfaceDistances(outer, inner, s, [1, 1, 1]);
    expect(sorted(d)).toEqual(sorted(ref).map((x) => expect.closeTo(x, 12)));
    expect(Math.min(...Array.from(d.subarray(0, d.length)))).toBe(2);
  });
});

describe('hd95 empty-mask conventions', () => {
  const s: S3 = [4, 4, 4];
  const none = new Uint8Array(64);
  const some = box(s, [1, 1, 1], [3, 3, 3]);

  it('is 0 when both are empty and 373.13 when exactly one is', () => {
    expect(HD95_ONE_EMPTY).toBe(373.13);
    expect(hd95(none, new Uint8Array(64), s, [1, 1, 1])).toBe(0);
    expect(hd95(none, some, s, [1, 1, 1])).toBe(373.13);
    expect(hd95(some, none, s, [1, 1, 1])).toBe(373.13);
    expect(surfaceDistances(none, some, s, [1, 1, 1]).length).toBe(0);
  });
});
