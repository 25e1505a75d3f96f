/**
 * Volume geometry and BraTS region masks.
 *
 * Volumes are flat arrays in row-major [D, H, W] order with W fastest, which is NIfTI's
 * x-fastest memory order read as D = Z, H = Y, W = X. Spacing is [sd, sh, sw] in mm.
 */
import { ArgumentError, ShapeError } from '../tensor/errors.js';
import type { Region } from '../data/regions.js';
import type { Box3 } from '../data/crop.js';
import { voxelCount } from '../data/volume.js';
export type Shape3 = readonly [number, number, number];
export type Spacing3 = readonly [number, number, number];


/** Label used for enhancing tumour: 4 in BraTS 2018–2021, 3 in BraTS 2023. */
export const DEFAULT_ET_LABEL = 4;

/** Throws unless `shape` is three positive integers whose product is `length`. */
export function checkShape(shape: Shape3, length: number, what: string): void {
  if (shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new ShapeError(`${what}: shape must be three positive integers [D, H, W], got [${shape.join(', ')}]`);
  }
  if (voxelCount(shape) !== length) {
    throw new ShapeError(`${what}: shape [${shape.join(', ')}] holds ${voxelCount(shape)} voxels but the array has ${length}`);
  }
}

export function checkSpacing(spacing: Spacing3, what: string): void {
  if (spacing.length !== 3 || !spacing.every((s) => Number.isFinite(s) && s > 0)) {
    throw new ArgumentError(`${what}: spacing must be three positive finite numbers [sd, sh, sw] in mm, got [${spacing.join(', ')}]`);
  }
}

export function countNonzero(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) n++;
  return n;
}

/**
 * WT = {1, 2, ET}, TC = {1, ET}, ET = {ET}. Labels are rounded first, so that a label map
 * stored as floats (or rescaled by scl_slope) still matches its integer labels.
 */
export function regionMasks(labels: ArrayLike<number>, etLabel: number = DEFAULT_ET_LABEL): Record<Region, Uint8Array> {
  if (!Number.isInteger(etLabel) || etLabel === 1 || etLabel === 2 || etLabel <= 0) {
    throw new ArgumentError(`ET label must be a positive integer other than 1 and 2, got ${etLabel}`);
  }
  const n = labels.length;
  const ET = new Uint8Array(n);
  const TC = new Uint8Array(n);
  const WT = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.round(labels[i]!);
    if (v === etLabel) {
      ET[i] = 1;
      TC[i] = 1;
      WT[i] = 1;
    } else if (v === 1) {
      TC[i] = 1;
      WT[i] = 1;
    } else if (v === 2) {
      WT[i] = 1;
    }
  }
  return { ET, TC, WT };
}

/** The smallest box holding every nonzero voxel of any of the masks; null when all are empty. */
export function boundingBox(masks: readonly Uint8Array[], shape: Shape3): Box3 | null {
  let box: Box3 | null = null;
  for (const m of masks) {
    const b = maskBox(m, shape);
    if (b === null) continue;
    if (box === null) box = b;
    else {
      for (let k = 0; k < 3; k++) {
        const hi = Math.max(box.start[k]! + box.size[k]!, b.start[k]! + b.size[k]!);
        box.start[k] = Math.min(box.start[k]!, b.start[k]!);
        box.size[k] = hi - box.start[k]!;
      }
    }
  }
  return box;
}

function maskBox(m: Uint8Array, shape: Shape3): Box3 | null {
  const [D, H, W] = shape;
  const plane = H * W;
  let d0 = D, h0 = H, w0 = W, d1 = -1, h1 = -1, w1 = -1;
  const visit = (i: number): void => {
    const d = Math.floor(i / plane);
    const r = i - d * plane;
    const h = Math.floor(r / W);
    const w = r - h * W;
    if (d < d0) d0 = d;
    if (d > d1) d1 = d;
    if (h < h0) h0 = h;
    if (h > h1) h1 = h;
    if (w < w0) w0 = w;
    if (w > w1) w1 = w;
  };
  let i = 0;
  // Masks are mostly background: testing four voxels per 32-bit load skips it four times faster.
  if (m.byteOffset % 4 === 0) {
    const words = new Uint32Array(m.buffer, m.byteOffset, m.length >>> 2);
    for (let k = 0; k < words.length; k++) {
      if (words[k] === 0) continue;
      for (let j = 4 * k; j < 4 * k + 4; j++) if (m[j] !== 0) visit(j);
    }
    i = words.length * 4;
  }
  for (; i < m.length; i++) if (m[i] !== 0) visit(i);
  if (d1 < 0) return null;
  return { start: [d0, h0, w0], size: [d1 + 1 - d0, h1 + 1 - h0, w1 + 1 - w0] };
}

export function crop(mask: Uint8Array, shape: Shape3, box: Box3): Uint8Array {
  const [, H, W] = shape;
  const [cd, ch, cw] = box.size;
  const out = new Uint8Array(cd * ch * cw);
  for (let d = 0; d < cd; d++) {
    for (let h = 0; h < ch; h++) {
      const src = ((d + box.start[0]) * H + (h + box.start[1])) * W + box.start[2];
      out.set(mask.subarray(src, src + cw), (d * ch + h) * cw);
    }
  }
  return out;
}

export function boxShape(box: Box3): Shape3 {
  return box.size;
}
