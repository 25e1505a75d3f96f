import { LABELS } from '../data/brats-case.js';
import { REGIONS, type Region } from '../data/regions.js';
import type { Dims3 } from '../data/volume.js';
import { dice } from '../eval/dice.js';
import { regionMasks } from '../eval/masks.js';
import { filterComponents } from './keep-largest.js';
import type { ComponentFilterOptions } from './keep-largest.js';
import { ArgumentError, ShapeError } from '../tensor/errors.js';

/** One cross-validation case: a fold's prediction and its ground truth, internal labels on `dims` [X, Y, Z]. */
export interface PostprocessCase {
  pred: Uint8Array;
  gt: Uint8Array;
  dims: Dims3;
}

export interface KeepLargestTrial {
  region: Region;
  /** Mean Dice of the region over the cases without and with its keep-largest. */
  diceWithout: number;
  diceWith: number;
  adopted: boolean;
}

export interface KeepLargestDecision {
  keepLargest: Region[];
  trials: KeepLargestTrial[];
}

function meanDice(cases: readonly PostprocessCase[], labels: readonly Uint8Array[], region: Region): number {
  let s = 0;
  for (const [k, c] of cases.entries()) s += dice(regionMasks(labels[k]!, LABELS.ET)[region], regionMasks(c.gt, LABELS.ET)[region]);
  return s / cases.length;
}

/**
 * nnU-Net's decision on the folds' predictions: region by region, outer to inner and on top of
 * what was already adopted, keep only the largest component where that raises the region's
 * mean Dice over the cases (strictly; a tie keeps the prediction as it is).
 */
export function decideKeepLargest(cases: readonly PostprocessCase[], opts: Pick<ComponentFilterOptions, 'connectivity'> = {}): KeepLargestDecision {
  if (cases.length === 0) throw new ArgumentError('decideKeepLargest: no cases to decide on');
  for (const [k, c] of cases.entries()) {
    const n = c.dims[0] * c.dims[1] * c.dims[2];
    if (c.pred.length !== n || c.gt.length !== n) throw new ShapeError(`decideKeepLargest: case ${k} has ${c.pred.length} predicted and ${c.gt.length} ground-truth voxels on a grid of [${c.dims.join(', ')}] (${n})`);
  }
  const keepLargest: Region[] = [];
  const trials: KeepLargestTrial[] = [];
  let current = cases.map((c) => c.pred);
  for (const region of REGIONS) {
    const candidate = cases.map((c, k) => filterComponents(current[k]!, c.dims, { ...opts, keepLargest: [region] }).labels);
    const diceWithout = meanDice(cases, current, region);
    const diceWith = meanDice(cases, candidate, region);
    const adopted = diceWith > diceWithout;
    trials.push({ region, diceWithout, diceWith, adopted });
    if (adopted) {
      keepLargest.push(region);
      current = candidate;
    }
  }
  return { keepLargest, trials };
}
