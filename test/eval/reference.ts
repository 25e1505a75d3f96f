/**
 * Slow, obviously-correct references for the eval tests: coordinate-based surface, all-pairs
 * distances and a textbook percentile, sharing no code with src/eval.
 */
export type S3 = readonly [number, number, number];

/** mulberry32: a small seeded generator so random cases are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomMask(shape: S3, density: number, rand: () => number): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < m.length; i++) m[i] = rand() < density ? 1 : 0;
  return m;
}

/** A random blob: a union of a few random boxes, so surfaces have large flat parts and holes. */
export function randomBlobs(shape: S3, boxes: number, rand: () => number): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let k = 0; k < boxes; k++) {
    const lo = shape.map((s) => Math.floor(rand() * s));
    const hi = shape.map((s, i) => Math.min(s, lo[i]! + 1 + Math.floor(rand() * (s / 2))));
    for (let d = lo[0]!; d < hi[0]!; d++)
      for (let h = lo[1]!; h < hi[1]!; h++)
        for (let w = lo[2]!; w < hi[2]!; w++) m[(d * shape[1] + h) * shape[2] + w] = 1;
  }
  return m;
}

export function box(shape: S3, lo: S3, hi: S3): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let d = lo[0]; d < hi[0]; d++)
    for (let h = lo[1]; h < hi[1]; h++)
      for (let w = lo[2]; w < hi[2]; w++) m[(d * shape[1] + h) * shape[2] + w] = 1;
  return m;
}

export function ball(shape: S3, centre: S3, radius: number): Uint8Array {
  const m = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let d = 0; d < shape[0]; d++)
    for (let h = 0; h < shape[1]; h++)
      for (let w = 0; w < shape[2]; w++) {
        const r2 = (d - centre[0]) ** 2 + (h - centre[1]) ** 2 + (w - centre[2]) ** 2;
        if (r2 <= radius * radius) m[(d * shape[1] + h) * shape[2] + w] = 1;
      }
  return m;
}

/** Coordinates of the voxels where `m` is set. */
export function points(m: Uint8Array, shape: S3): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let d = 0; d < shape[0]; d++)
    for (let h = 0; h < shape[1]; h++)
      for (let w = 0; w < shape[2]; w++) if (m[(d * shape[1] + h) * shape[2] + w]) out.push([d, h, w]);
  return out;
}

/** Surface by definition: a set voxel one of whose six neighbours is unset or off the volume. */
export function refSurface(m: Uint8Array, shape: S3): Uint8Array {
  const at = (d: number, h: number, w: number) =>
    d < 0 || h < 0 || w < 0 || d >= shape[0] || h >= shape[1] || w >= shape[2] ? 0 : m[(d * shape[1] + h) * shape[2] + w]!;
  const out = new Uint8Array(m.length);
  for (const [d, h, w] of points(m, shape)) {
    const nb = [at(d - 1, h, w), at(d + 1, h, w), at(d, h - 1, w), at(d, h + 1, w), at(d, h, w - 1), at(d, h, w + 1)];
    if (nb.some((x) => x === 0)) out[(d * shape[1] + h) * shape[2] + w] = 1;
  }
  return out;
}

export function dist(p: readonly number[], q: readonly number[], sp: S3): number {
  return Math.hypot((p[0]! - q[0]!) * sp[0], (p[1]! - q[1]!) * sp[1], (p[2]! - q[2]!) * sp[2]);
}

/** Distance from every voxel to the nearest feature voxel, by trying them all. */
export function refDistanceTransform(feature: Uint8Array, shape: S3, sp: S3): Float64Array {
  const feats = points(feature, shape);
  const out = new Float64Array(feature.length);
  for (let d = 0; d < shape[0]; d++)
    for (let h = 0; h < shape[1]; h++)
      for (let w = 0; w < shape[2]; w++) {
        let best = Infinity;
        for (const f of feats) best = Math.min(best, dist([d, h, w], f, sp));
        out[(d * shape[1] + h) * shape[2] + w] = best;
      }
  return out;
}

/** All-pairs pooled surface distances, a→b then b→a. */
export function refSurfaceDistances(a: Uint8Array, b: Uint8Array, shape: S3, sp: S3): number[] {
  const pa = points(refSurface(a, shape), shape);
  const pb = points(refSurface(b, shape), shape);
  const nearest = (p: readonly number[], set: readonly (readonly number[])[]) => Math.min(...set.map((q) => dist(p, q, sp)));
  if (pa.length === 0 || pb.length === 0) return [];
  return [...pa.map((p) => nearest(p, pb)), ...pb.map((p) => nearest(p, pa))];
}

/** Linear-interpolation percentile, textbook form (rank (n−1)·q/100). */
export function refPercentile(values: readonly number[], q: number): number {
  const s = [...values].sort((x, y) => x - y);
  const r = ((s.length - 1) * q) / 100;
  const lo = Math.floor(r);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (r - lo) * (s[hi]! - s[lo]!);
}
