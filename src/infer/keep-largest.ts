import { LABELS } from '../data/brats-case.js';
import { REGIONS, type Region } from '../data/regions.js';
import type { Dims3 } from '../data/volume.js';
import { connectedComponents } from '../eval/components.js';
import type { Connectivity } from '../eval/components.js';
import { ArgumentError, ShapeError } from '../tensor/errors.js';

/**
 * nnU-Net-style connected-component post-processing of a label map, region by region: keep
 * only a region's largest component, and/or drop its components below a size. nnU-Net decides
 * per region on cross-validation whether keeping the largest component helps; this applies
 * such a decision.
 */
export interface ComponentFilterOptions {
  /** Regions of which only the largest connected component is kept (all of them on a tie, as nnU-Net). */
  keepLargest?: readonly Region[];
  /** Per region, components of fewer voxels than this are removed. */
  minVoxels?: Partial<Record<Region, number>>;
  /** Neighbourhood of a component; default 26 (nnU-Net's full connectivity). */
  connectivity?: Connectivity;
}

export interface ComponentFilterResult {
  labels: Uint8Array;
  /** Voxels each region lost. */
  removed: Record<Region, number>;
}

const IN_REGION: Record<Region, (label: number) => boolean> = {
  WT: (l) => l === LABELS.NCR || l === LABELS.ED || l === LABELS.ET,
  TC: (l) => l === LABELS.NCR || l === LABELS.ET,
  ET: (l) => l === LABELS.ET,
};

/**
 * A voxel a region loses stays in the region around it, as the ET < 200 rule turns ET into NCR:
 * out of WT it is background, out of TC oedema, out of ET necrosis.
 */
const DEMOTED: Record<Region, number> = { WT: LABELS.background, TC: LABELS.ED, ET: LABELS.NCR };

function isRegion(s: string): s is Region {
  return (REGIONS as readonly string[]).includes(s);
}

export function parseRegionList(s: string, what: string): Region[] {
  const out: Region[] = [];
  for (const part of s.split(',').map((p) => p.trim().toUpperCase())) {
    if (part === '') continue;
    if (!isRegion(part)) throw new ArgumentError(`${what}: unknown region "${part}" (expected WT, TC and/or ET, comma-separated)`);
    if (!out.includes(part)) out.push(part);
  }
  return out;
}

/** Internal labels (1 NCR, 2 ED, 3 ET), x fastest on a grid of `dims` [X, Y, Z]; returns a filtered copy. */
export function filterComponents(labels: Uint8Array, dims: Dims3, opts: ComponentFilterOptions = {}): ComponentFilterResult {
  const n = dims[0] * dims[1] * dims[2];
  if (labels.length !== n) throw new ShapeError(`filterComponents: labels hold ${labels.length} voxels but the grid [${dims.join(', ')}] has ${n}`);
  for (const [r, v] of Object.entries(opts.minVoxels ?? {})) {
    if (!isRegion(r)) throw new ArgumentError(`filterComponents: unknown region "${r}" in minVoxels`);
    if (v === undefined || !Number.isInteger(v) || v < 0) throw new ArgumentError(`filterComponents: minVoxels.${r} must be a non-negative integer, got ${v}`);
  }
  const out = labels.slice();
  const removed: Record<Region, number> = { WT: 0, TC: 0, ET: 0 };
  const keepLargest = new Set(opts.keepLargest ?? []);
  // Outer to inner (channel order), so that an inner region is judged on what the outer one kept.
  for (const r of REGIONS) {
    const min = opts.minVoxels?.[r] ?? 0;
    if (!keepLargest.has(r) && min <= 1) continue;
    const inRegion = IN_REGION[r];
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) if (inRegion(out[i]!)) mask[i] = 1;
    const cc = connectedComponents(mask, [dims[2], dims[1], dims[0]], opts.connectivity ?? 26);
    if (cc.count === 0) continue;
    let largest = 0;
    for (let k = 1; k <= cc.count; k++) largest = Math.max(largest, cc.sizes[k]!);
    const drop = new Uint8Array(cc.count + 1);
    for (let k = 1; k <= cc.count; k++) {
      const size = cc.sizes[k]!;
      if ((keepLargest.has(r) && size < largest) || size < min) drop[k] = 1;
    }
    for (let i = 0; i < n; i++) {
      if (drop[cc.labels[i]!] === 1) {
        out[i] = DEMOTED[r];
        removed[r]++;
      }
    }
  }
  return { labels: out, removed };
}
