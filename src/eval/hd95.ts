import { boundingBox, boxShape, checkShape, checkSpacing, crop } from './masks.js';
import type { Shape3, Spacing3 } from './masks.js';
import { surface } from './surface.js';
import { squaredDistanceTransform } from './edt.js';
import { percentileOfSorted } from './percentile.js';
import { ArgumentError } from '../tensor/errors.js';

/** HD95 when exactly one mask is empty: the BraTS penalty, the diagonal of a 240×240×155 mm volume. */
export const HD95_ONE_EMPTY = 373.13;

/**
 * Distances in mm from every surface voxel of `a` to the nearest surface voxel of `b`, followed
 * by those from every surface voxel of `b` to the nearest surface voxel of `a` (medpy's
 * `__surface_distances` both ways, concatenated). Empty when either mask is empty.
 *
 * Both transforms run on the bounding box of a ∪ b only: every surface voxel lies inside it,
 * so the nearest one to any point in the box is found without the rest of the volume, and the
 * box's faces stand in for outside exactly as the volume border does (a voxel beyond a face is
 * either outside the volume or outside both masks).
 */
export function surfaceDistances(a: Uint8Array, b: Uint8Array, shape: Shape3, spacing: Spacing3): Float64Array {
  checkShape(shape, a.length, 'surface distances (a)');
  checkShape(shape, b.length, 'surface distances (b)');
  checkSpacing(spacing, 'surface distances');
  const box = boundingBox([a, b], shape);
  if (box === null) return new Float64Array(0);
  const cs = boxShape(box);
  const sa = surface(crop(a, shape, box), cs);
  const sb = surface(crop(b, shape, box), cs);
  let na = 0, nb = 0;
  for (let i = 0; i < sa.length; i++) {
    na += sa[i]!;
    nb += sb[i]!;
  }
  if (na === 0 || nb === 0) return new Float64Array(0);
  const out = new Float64Array(na + nb);
  const toB = squaredDistanceTransform(sb, cs, spacing);
  let k = 0;
  for (let i = 0; i < sa.length; i++) if (sa[i] !== 0) out[k++] = Math.sqrt(toB[i]!);
  const toA = squaredDistanceTransform(sa, cs, spacing);
  for (let i = 0; i < sb.length; i++) if (sb[i] !== 0) out[k++] = Math.sqrt(toA[i]!);
  return out;
}

/**
 * 95th percentile of the pooled surface distances of both directions, in mm (numpy's linear
 * interpolation). Both masks empty: 0; exactly one empty: 373.13 (BraTS conventions).
 */
export function hd95(a: Uint8Array, b: Uint8Array, shape: Shape3, spacing: Spacing3): number {
  return hausdorffPercentile(a, b, shape, spacing, 95);
}

/** As hd95 for any percentile q in [0, 100]; q = 100 is the Hausdorff distance. */
export function hausdorffPercentile(a: Uint8Array, b: Uint8Array, shape: Shape3, spacing: Spacing3, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new ArgumentError(`hausdorffPercentile: q must lie in [0, 100], got ${q}`);
  const d = surfaceDistances(a, b, shape, spacing);
  if (d.length === 0) {
    const emptyA = !a.some((x) => x !== 0);
    const emptyB = !b.some((x) => x !== 0);
    return emptyA && emptyB ? 0 : HD95_ONE_EMPTY;
  }
  return percentileOfSorted(d.sort(), q);
}
