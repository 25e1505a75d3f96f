/**
 * BraTS evaluates nested regions, not labels: WT (whole tumour) = NCR ∪ ED ∪ ET, TC (tumour core)
 * = NCR ∪ ET, ET. The network predicts the three regions (sigmoid channels); labels come back by
 * painting ED where WT, then NCR where TC, then ET where ET, each overwriting the last.
 * All labels here are internal (1 NCR, 2 ED, 3 ET; see brats-case.ts).
 */
import { LABELS } from './brats-case.js';
import { ArgumentError } from '../tensor/errors.js';

/** The regions in the network's channel order (and of every region array here). */
export const REGIONS = ['WT', 'TC', 'ET'] as const;
export type Region = (typeof REGIONS)[number];
/** The order BraTS reports them in, which the evaluation's tables, CSV columns and JSON keep. */
export const REPORT_ORDER: readonly Region[] = ['ET', 'TC', 'WT'];

// Bit r of REGION_BITS[label] says whether the label belongs to region r (WT, TC, ET).
const REGION_BITS = new Uint8Array(256);
REGION_BITS[LABELS.NCR] = 0b011;
REGION_BITS[LABELS.ED] = 0b001;
REGION_BITS[LABELS.ET] = 0b111;

/**
 * Writes the three region masks (1/0) channel after channel into `out` at `offset`:
 * out[offset + r·N + i] for region r and voxel i. Allocates a Float32Array of 3·N when `out` is omitted.
 */
export function labelsToRegions<T extends Float32Array | Uint8Array = Float32Array>(labels: Uint8Array, out?: T, offset = 0): T {
  const n = labels.length;
  const dst = (out ?? new Float32Array(3 * n)) as T;
  if (dst.length < offset + 3 * n) throw new ArgumentError(`labelsToRegions: output holds ${dst.length} values, needs ${offset + 3 * n}`);
  for (let i = 0; i < n; i++) {
    const b = REGION_BITS[labels[i]!]!;
    dst[offset + i] = b & 1;
    dst[offset + n + i] = (b >> 1) & 1;
    dst[offset + 2 * n + i] = (b >> 2) & 1;
  }
  return dst;
}

/**
 * Region channels (masks or probabilities, laid out as labelsToRegions writes them) → internal
 * labels: a voxel is in a region when its value is > threshold; ED where WT, NCR where TC, ET where ET.
 */
export function regionsToLabels(regions: ArrayLike<number>, voxels: number, threshold = 0.5, offset = 0): Uint8Array {
  if (regions.length < offset + 3 * voxels) throw new ArgumentError(`regionsToLabels: ${regions.length} values cannot hold 3 × ${voxels} voxels`);
  const out = new Uint8Array(voxels);
  for (let i = 0; i < voxels; i++) {
    let l = 0;
    if (regions[offset + i]! > threshold) l = LABELS.ED;
    if (regions[offset + voxels + i]! > threshold) l = LABELS.NCR;
    if (regions[offset + 2 * voxels + i]! > threshold) l = LABELS.ET;
    out[i] = l;
  }
  return out;
}

/** Voxel counts of WT, TC and ET. */
export function regionCounts(labels: Uint8Array): Record<Region, number> {
  let wt = 0;
  let tc = 0;
  let et = 0;
  for (let i = 0; i < labels.length; i++) {
    const b = REGION_BITS[labels[i]!]!;
    wt += b & 1;
    tc += (b >> 1) & 1;
    et += (b >> 2) & 1;
  }
  return { WT: wt, TC: tc, ET: et };
}
