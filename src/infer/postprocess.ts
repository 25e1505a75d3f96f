import { LABELS } from '../data/brats-case.js';
import { regionsToLabels } from '../data/regions.js';

export interface PostprocessOptions {
  /** A voxel belongs to a region when its probability is above this; default 0.5. */
  threshold?: number;
  /**
   * A predicted ET smaller than this many voxels is taken for a false positive and becomes
   * NCR (default 200, the paper's rule): a missed small ET costs far less in BraTS scoring
   * than a false one in a case without ET.
   */
  minEtVoxels?: number;
}

/** Region probabilities [3, …] (WT, TC, ET) → internal labels (1 NCR, 2 ED, 3 ET). */
export function regionsToSegmentation(probs: ArrayLike<number>, voxels: number, opts: PostprocessOptions = {}): Uint8Array {
  const labels = regionsToLabels(probs, voxels, opts.threshold ?? 0.5);
  const minEt = opts.minEtVoxels ?? 200;
  let et = 0;
  for (let i = 0; i < voxels; i++) if (labels[i] === LABELS.ET) et++;
  if (et > 0 && et < minEt) for (let i = 0; i < voxels; i++) if (labels[i] === LABELS.ET) labels[i] = LABELS.NCR;
  return labels;
}
