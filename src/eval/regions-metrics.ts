import { REPORT_ORDER, type Region } from '../data/regions.js';
import { DEFAULT_ET_LABEL, checkShape, checkSpacing, regionMasks } from './masks.js';
import type { Shape3, Spacing3 } from './masks.js';
import { confusion, sensitivity, specificity } from './confusion.js';
import { diceFromConfusion } from './dice.js';
import { hd95 } from './hd95.js';

export interface RegionMetrics {
  dice: number;
  /** mm */
  hd95: number;
  sensitivity: number;
  specificity: number;
}

export type MetricName = keyof RegionMetrics;
export const METRICS: readonly MetricName[] = ['dice', 'hd95', 'sensitivity', 'specificity'];

export type CaseMetrics = Record<Region, RegionMetrics>;

export interface EvaluateOptions {
  /** Enhancing-tumour label: 4 (BraTS 2018–2021, the default) or 3 (BraTS 2023). */
  etLabel?: number;
}

/** All four metrics for one binary prediction against its binary ground truth. */
export function evaluateMask(pred: Uint8Array, gt: Uint8Array, shape: Shape3, spacing: Spacing3): RegionMetrics {
  const c = confusion(pred, gt);
  return {
    dice: diceFromConfusion(c),
    hd95: hd95(pred, gt, shape, spacing),
    sensitivity: sensitivity(c),
    specificity: specificity(c),
  };
}

/** ET, TC and WT metrics of a predicted label map against the ground-truth label map. */
export function evaluateRegions(
  predLabels: ArrayLike<number>,
  gtLabels: ArrayLike<number>,
  shape: Shape3,
  spacing: Spacing3,
  options: EvaluateOptions = {},
): CaseMetrics {
  checkShape(shape, gtLabels.length, 'evaluate (ground truth)');
  checkShape(shape, predLabels.length, 'evaluate (prediction)');
  checkSpacing(spacing, 'evaluate');
  const et = options.etLabel ?? DEFAULT_ET_LABEL;
  const pred = regionMasks(predLabels, et);
  const gt = regionMasks(gtLabels, et);
  const out = {} as CaseMetrics;
  for (const r of REPORT_ORDER) out[r] = evaluateMask(pred[r], gt[r], shape, spacing);
  return out;
}
