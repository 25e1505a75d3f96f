import { confusion } from './confusion.js';
import type { Confusion } from './confusion.js';

/** 2·TP / (2·TP + FP + FN); both masks empty gives 1 (BraTS convention), one empty gives 0. */
export function diceFromConfusion(c: Confusion): number {
  const denom = 2 * c.tp + c.fp + c.fn;
  return denom === 0 ? 1 : (2 * c.tp) / denom;
}

export function dice(pred: Uint8Array, gt: Uint8Array): number {
  return diceFromConfusion(confusion(pred, gt));
}
