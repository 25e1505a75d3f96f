import { DEFAULT_ET_LABEL, boundingBox, boxShape, checkShape, checkSpacing, crop, regionMasks } from './masks.js';
import type { Shape3, Spacing3 } from './masks.js';
import { REPORT_ORDER } from '../data/regions.js';
import type { Region } from '../data/regions.js';
import type { Box3 } from '../data/crop.js';
import type { Dims3 } from '../data/volume.js';
import { ArgumentError } from '../tensor/errors.js';
import { connectedComponents, dilate, voxelsByLabel } from './components.js';
import { surfelHd95 } from './surfel-distances.js';

/**
 * BraTS 2023 lesion-wise Dice and HD95, as the challenge's scorer (the BraTS-2023-Metrics code)
 * defines them for gliomas:
 * - a GT lesion is the GT voxels inside one 26-connected component of the GT dilated
 *   `dilation` times with the 18-neighbourhood, so that nearby pieces count as one;
 * - a predicted 26-connected component matches a lesion when it touches that lesion's own
 *   dilation (one component may match several lesions); the lesion is scored against the
 *   union of its matched components, whole;
 * - lesions of at most `minLesionVolume` mm³ are left out of the scores and the counts; a
 *   predicted component that matches no lesion (of any size) is a false positive;
 * - a missed lesion and a false positive score Dice 0 and HD95 `penaltyHd95`;
 * - Dice = Σ Dice / (lesions + FP), HD95 = (Σ HD95 + penalty·FP) / (lesions + FP), over the
 *   lesions kept; with nothing to count, Dice 1 and HD95 0.
 * HD95 is the surface-distance one of `surfel-distances.ts`.
 */

export interface LesionWiseOptions {
  /** Enhancing-tumour label: 4 (BraTS 2018–2021, the default) or 3 (BraTS 2023). */
  etLabel?: number;
  /** Dilations of the ground truth that merge nearby pieces and widen the match; default 3. */
  dilation?: number;
  /** Lesions of at most this volume (mm³) are ignored; default 50. */
  minLesionVolume?: number;
  /** HD95 of a missed lesion or a false positive, mm; default 374. */
  penaltyHd95?: number;
}

export const LESION_WISE_DEFAULTS = { dilation: 3, minLesionVolume: 50, penaltyHd95: 374 } as const;

export interface Lesion {
  /** GT voxels of the lesion. */
  voxels: number;
  /** mm³, from the voxel spacing. */
  volume: number;
  /** Whether it is above the volume threshold, and so counted. */
  counted: boolean;
  /** Predicted components matched (1-based, numbered in raster order of their first voxel). */
  matched: number[];
  dice: number;
  /** mm; the penalty when missed. */
  hd95: number;
}

export interface LesionWiseMetrics {
  dice: number;
  /** mm */
  hd95: number;
  /** Counted lesions with a match. */
  tp: number;
  /** Counted lesions without one. */
  fn: number;
  /** Predicted components matching no lesion. */
  fp: number;
  /** Every GT lesion, counted or not, in raster order of the dilated components. */
  lesions: Lesion[];
}

export type LesionWiseCase = Record<Region, LesionWiseMetrics>;

/** Lesion-wise scores of one binary prediction against its binary ground truth. */
export function lesionWiseMask(
  pred: Uint8Array,
  gt: Uint8Array,
  shape: Shape3,
  spacing: Spacing3,
  options: LesionWiseOptions = {},
): LesionWiseMetrics {
  checkShape(shape, gt.length, 'lesion-wise (ground truth)');
  checkShape(shape, pred.length, 'lesion-wise (prediction)');
  checkSpacing(spacing, 'lesion-wise');
  const dilation = options.dilation ?? LESION_WISE_DEFAULTS.dilation;
  if (!Number.isInteger(dilation) || dilation < 0) throw new ArgumentError(`lesion-wise: dilation must be a non-negative integer, got ${dilation}`);
  const minVolume = options.minLesionVolume ?? LESION_WISE_DEFAULTS.minLesionVolume;
  const penalty = options.penaltyHd95 ?? LESION_WISE_DEFAULTS.penaltyHd95;
  // Nothing reaches beyond both masks' box grown by the dilation, so the rest of the volume
  // (most of it, for a tumour) is left out; at the volume's border the box stops, as the
  // dilation does.
  const found = boundingBox([gt, pred], shape);
  if (found === null) return { dice: 1, hd95: 0, tp: 0, fn: 0, fp: 0, lesions: [] };
  const box = grow(found, dilation, shape);
  return scoreLesions(crop(pred, shape, box), crop(gt, shape, box), boxShape(box), spacing, dilation, minVolume, penalty);
}

function scoreLesions(
  pred: Uint8Array,
  gt: Uint8Array,
  shape: Shape3,
  spacing: Spacing3,
  dilation: number,
  minVolume: number,
  penalty: number,
): LesionWiseMetrics {
  const [, H, W] = shape;
  const [sz, sy, sx] = spacing;

  // Lesions: the GT voxels of each component of the dilated GT.
  const merged = connectedComponents(dilate(gt, shape, dilation, 18), shape, 26);
  const lesionOf = new Int32Array(gt.length);
  const lesionSizes = new Int32Array(merged.count + 1);
  for (let i = 0; i < gt.length; i++) {
    if (gt[i] === 0) continue;
    lesionOf[i] = merged.labels[i]!;
    lesionSizes[merged.labels[i]!]!++;
  }
  const lesionVoxels = voxelsByLabel({ labels: lesionOf, count: merged.count, sizes: lesionSizes });

  const predCC = connectedComponents(pred, shape, 26);
  const predVoxels = voxelsByLabel(predCC);
  const matchedAny = new Uint8Array(predCC.count + 1);

  const lesions: Lesion[] = [];
  for (let l = 1; l <= merged.count; l++) {
    const own = lesionVoxels.indices.subarray(lesionVoxels.start[l]!, lesionVoxels.start[l + 1]!);
    const matched = matchedComponents(own, predCC.labels, shape, dilation);
    for (const c of matched) matchedAny[c] = 1;
    let union = 0;
    for (const c of matched) union += predCC.sizes[c]!;
    let inter = 0;
    for (const i of own) if (pred[i] !== 0) inter++;
    const dice = (2 * inter) / (union + own.length);
    const volume = own.length * sx * sy * sz;
    let hd95 = penalty;
    if (matched.length > 0) {
      const parts = [own, ...matched.map((c) => predVoxels.indices.subarray(predVoxels.start[c]!, predVoxels.start[c + 1]!))];
      const box = boxOf(parts, shape);
      const local = box.size;
      const g = new Uint8Array(local[0] * local[1] * local[2]);
      const p = new Uint8Array(g.length);
      const toLocal = (i: number): number => {
        const d = Math.floor(i / (H * W));
        const h = Math.floor(i / W) % H;
        const w = i % W;
        return ((d - box.start[0]) * local[1] + (h - box.start[1])) * local[2] + (w - box.start[2]);
      };
      for (const i of own) g[toLocal(i)] = 1;
      for (const part of parts.slice(1)) for (const i of part) p[toLocal(i)] = 1;
      hd95 = surfelHd95(g, p, local, spacing);
    }
    lesions.push({ voxels: own.length, volume, counted: volume > minVolume, matched, dice, hd95: Number.isFinite(hd95) ? hd95 : penalty });
  }

  let fp = 0;
  for (let c = 1; c <= predCC.count; c++) if (matchedAny[c] === 0) fp++;
  const counted = lesions.filter((x) => x.counted);
  const tp = counted.filter((x) => x.matched.length > 0).length;
  const n = counted.length + fp;
  // Summed in lesion order, as the reference does.
  let diceSum = 0;
  let hdSum = 0;
  for (const x of counted) {
    diceSum += x.dice;
    hdSum += x.hd95;
  }
  return {
    dice: n === 0 ? 1 : diceSum / n,
    hd95: n === 0 ? 0 : (hdSum + fp * penalty) / n,
    tp,
    fn: counted.length - tp,
    fp,
    lesions,
  };
}

/** The smallest box holding every voxel index of `parts` (at least one). */
function boxOf(parts: readonly Int32Array[], shape: Shape3): Box3 {
  const [, H, W] = shape;
  const lo: Dims3 = [Infinity, Infinity, Infinity];
  const hi: Dims3 = [-Infinity, -Infinity, -Infinity];
  for (const part of parts)
    for (const i of part) {
      const c = [Math.floor(i / (H * W)), Math.floor(i / W) % H, i % W];
      for (let k = 0; k < 3; k++) {
        lo[k] = Math.min(lo[k]!, c[k]!);
        hi[k] = Math.max(hi[k]!, c[k]! + 1);
      }
    }
  return { start: lo, size: [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]] };
}

/** `box` grown by `by` voxels on every side, clipped to the volume (as the dilation stops at its border). */
function grow(box: Box3, by: number, shape: Shape3): Box3 {
  const start: Dims3 = [0, 0, 0];
  const size: Dims3 = [0, 0, 0];
  for (let k = 0; k < 3; k++) {
    start[k] = Math.max(0, box.start[k]! - by);
    size[k] = Math.min(shape[k]!, box.start[k]! + box.size[k]! + by) - start[k]!;
  }
  return { start, size };
}

/**
 * Labels of the predicted components touching the lesion dilated `dilation` times (18-
 * neighbourhood), ascending. The dilation runs in the lesion's box grown by `dilation`, which
 * holds all of it.
 */
function matchedComponents(own: Int32Array, predLabels: Int32Array, shape: Shape3, dilation: number): number[] {
  const [, H, W] = shape;
  const box = grow(boxOf([own], shape), dilation, shape);
  const local = box.size;
  const m = new Uint8Array(local[0] * local[1] * local[2]);
  for (const i of own) {
    const d = Math.floor(i / (H * W)) - box.start[0];
    const h = (Math.floor(i / W) % H) - box.start[1];
    const w = (i % W) - box.start[2];
    m[(d * local[1] + h) * local[2] + w] = 1;
  }
  const grown = dilate(m, local, dilation, 18);
  const found = new Set<number>();
  for (let d = 0; d < local[0]; d++)
    for (let h = 0; h < local[1]; h++)
      for (let w = 0; w < local[2]; w++) {
        if (grown[(d * local[1] + h) * local[2] + w] === 0) continue;
        const c = predLabels[((d + box.start[0]) * H + (h + box.start[1])) * W + (w + box.start[2])]!;
        if (c !== 0) found.add(c);
      }
  return [...found].sort((a, b) => a - b);
}

/** Lesion-wise scores of ET, TC and WT of a predicted label map against the ground truth's. */
export function evaluateLesionWise(
  predLabels: ArrayLike<number>,
  gtLabels: ArrayLike<number>,
  shape: Shape3,
  spacing: Spacing3,
  options: LesionWiseOptions = {},
): LesionWiseCase {
  checkShape(shape, gtLabels.length, 'lesion-wise (ground truth)');
  checkShape(shape, predLabels.length, 'lesion-wise (prediction)');
  const et = options.etLabel ?? DEFAULT_ET_LABEL;
  const pred = regionMasks(predLabels, et);
  const gt = regionMasks(gtLabels, et);
  const out = {} as LesionWiseCase;
  for (const r of REPORT_ORDER) out[r] = lesionWiseMask(pred[r], gt[r], shape, spacing, options);
  return out;
}
