/** Voxel counts of a binary prediction against a binary ground truth. */
import { ShapeError } from '../tensor/errors.js';
export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export function confusion(pred: Uint8Array, gt: Uint8Array): Confusion {
  if (pred.length !== gt.length) throw new ShapeError(`confusion: masks differ in length (${pred.length} vs ${gt.length})`);
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] !== 0;
    const g = gt[i] !== 0;
    if (p) {
      if (g) tp++;
      else fp++;
    } else if (g) fn++;
  }
  return { tp, fp, fn, tn: pred.length - tp - fp - fn };
}

/**
 * TP / (TP + FN). With no ground-truth positives the ratio is 0/0; we follow the BraTS 2023
 * evaluation (GaNDLF's get_sensitivity_and_specificity): 1 when the prediction is empty too
 * (nothing to find, nothing claimed), otherwise 0, so that a false detection on an empty
 * region is penalised the same way Dice penalises it.
 */
export function sensitivity(c: Confusion): number {
  const pos = c.tp + c.fn;
  if (pos === 0) return c.fp === 0 ? 1 : 0;
  return c.tp / pos;
}

/**
 * TN / (TN + FP). The denominator is empty only when the ground truth fills the whole volume,
 * which never happens on real scans; by symmetry with sensitivity it is 1 when the prediction
 * also fills the volume and 0 otherwise (BraTS 2023 tooling would give 0 in both cases).
 */
export function specificity(c: Confusion): number {
  const neg = c.tn + c.fp;
  if (neg === 0) return c.fn === 0 ? 1 : 0;
  return c.tn / neg;
}
