/**
 * Boxes and crops over x-fastest volumes. A box may reach outside the volume: cropping pads the
 * outside with a fill value, and uncropping drops it, so one pair of functions serves random
 * training crops, the inference centre crop and the brain bounding box.
 */
import type { Rng } from './rng.js';
import type { Dims3, VoxelArray } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

/** start and size in voxels, [x, y, z]; start may be negative and start + size may exceed the dims. */
export interface Box3 {
  start: Dims3;
  size: Dims3;
}

/** The smallest box holding every nonzero voxel of `mask`, grown by `margin` and clipped to the volume; null when empty. */
export function bboxOfMask(mask: ArrayLike<number>, dims: Readonly<Dims3>, margin = 0): Box3 | null {
  const [X, Y, Z] = dims;
  let x0 = X, y0 = Y, z0 = Z, x1 = -1, y1 = -1, z1 = -1;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      const row = (z * Y + y) * X;
      let first = -1;
      let last = -1;
      for (let x = 0; x < X; x++) {
        if (mask[row + x]) {
          if (first < 0) first = x;
          last = x;
        }
      }
      if (first < 0) continue;
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (z < z0) z0 = z;
      if (z > z1) z1 = z;
    }
  }
  if (x1 < 0) return null;
  const lo = [x0, y0, z0].map((v) => Math.max(0, v - margin));
  const hi = [x1, y1, z1].map((v, a) => Math.min(dims[a]! - 1, v + margin));
  return { start: lo as Dims3, size: [hi[0]! - lo[0]! + 1, hi[1]! - lo[1]! + 1, hi[2]! - lo[2]! + 1] };
}

/** A box of `size` centred on the volume (padding evenly where the volume is smaller). */
export function centerBox(dims: Readonly<Dims3>, size: Readonly<Dims3>): Box3 {
  return { start: [0, 1, 2].map((a) => Math.floor((dims[a]! - size[a]!) / 2)) as Dims3, size: [...size] };
}

export interface RandomBoxOptions {
  /** Voxel indices (x-fastest) of each foreground class; empty classes are skipped. */
  foreground?: readonly ArrayLike<number>[];
  /** Share of boxes centred on a foreground voxel (nnU-Net's oversampling); default 0. */
  foregroundProb?: number;
}

/**
 * A random box of `size`. Uniform boxes lie inside the volume where it is large enough, and
 * otherwise place the volume at a random offset inside the padded box. With probability
 * `foregroundProb` the box is centred on a voxel of a randomly chosen non-empty class (classes
 * equally likely, so a small ET is seen as often as a large oedema), then shifted to stay inside.
 */
export function randomBox(dims: Readonly<Dims3>, size: Readonly<Dims3>, rng: Rng, opts: RandomBoxOptions = {}): Box3 {
  const lo = [0, 1, 2].map((a) => Math.min(0, dims[a]! - size[a]!));
  const hi = [0, 1, 2].map((a) => Math.max(0, dims[a]! - size[a]!));
  const classes = (opts.foreground ?? []).filter((c) => c.length > 0);
  const useForeground = rng.chance(opts.foregroundProb ?? 0) && classes.length > 0;
  if (useForeground) {
    const cls = rng.pick(classes);
    const idx = cls[rng.int(cls.length)]!;
    const c = [idx % dims[0], Math.floor(idx / dims[0]) % dims[1], Math.floor(idx / (dims[0] * dims[1]))];
    const start = c.map((v, a) => Math.min(hi[a]!, Math.max(lo[a]!, v - Math.floor(size[a]! / 2))));
    return { start: start as Dims3, size: [...size] };
  }
  const start = [0, 1, 2].map((a) => rng.int(lo[a]!, hi[a]! + 1));
  return { start: start as Dims3, size: [...size] };
}

function like<T extends VoxelArray>(src: T, n: number): T {
  return new (src.constructor as new (n: number) => T)(n);
}

/**
 * The rows a box shares with a volume of `dims`: calls `row(volumeOffset, boxOffset, length)` for
 * each, per channel (channel-major, each x-fastest). Crop and uncrop are this loop copying one
 * way or the other.
 */
function overlapRows(dims: Readonly<Dims3>, box: Box3, channels: number, row: (volume: number, inBox: number, length: number) => void): void {
  const [X, Y, Z] = dims;
  const [sx, sy, sz] = box.size;
  const [bx, by, bz] = box.start;
  const n = X * Y * Z;
  const xa = Math.max(0, -bx);
  const xb = Math.min(sx, X - bx);
  if (xb <= xa) return;
  for (let c = 0; c < channels; c++) {
    for (let z = 0; z < sz; z++) {
      const zs = bz + z;
      if (zs < 0 || zs >= Z) continue;
      for (let y = 0; y < sy; y++) {
        const ys = by + y;
        if (ys < 0 || ys >= Y) continue;
        row(c * n + (zs * Y + ys) * X + bx + xa, ((c * sz + z) * sy + y) * sx + xa, xb - xa);
      }
    }
  }
}

/**
 * Copies `box` out of a volume with `channels` channels (channel-major, each x-fastest over `dims`);
 * voxels outside the volume get `fill`. Returns the same array type as `src`.
 */
export function cropVolume<T extends VoxelArray>(src: T, dims: Readonly<Dims3>, box: Box3, channels = 1, fill = 0): T {
  const n = dims[0] * dims[1] * dims[2];
  if (src.length !== channels * n) throw new ArgumentError(`cropVolume: ${src.length} values, expected ${channels} × ${n}`);
  const out = like(src, channels * box.size[0] * box.size[1] * box.size[2]);
  if (fill !== 0) out.fill(fill);
  overlapRows(dims, box, channels, (v, b, len) => out.set(src.subarray(v, v + len), b));
  return out;
}

/** The inverse of cropVolume: puts `crop` back into a volume of `fullDims` filled with `fill`. */
export function uncropVolume<T extends VoxelArray>(crop: T, box: Box3, fullDims: Readonly<Dims3>, channels = 1, fill = 0): T {
  const [sx, sy, sz] = box.size;
  if (crop.length !== channels * sx * sy * sz) throw new ArgumentError(`uncropVolume: ${crop.length} values, expected ${channels} × ${sx * sy * sz}`);
  const out = like(crop, channels * fullDims[0] * fullDims[1] * fullDims[2]);
  if (fill !== 0) out.fill(fill);
  overlapRows(fullDims, box, channels, (v, b, len) => out.set(crop.subarray(b, b + len), v));
  return out;
}
