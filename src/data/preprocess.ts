/**
 * The paper's preprocessing: brain = voxels nonzero in any modality; per modality, clip to the
 * [0.5 %, 99.5 %] percentiles of the brain's voxels, z-score over the brain, background exactly 0.
 * The case is also cropped to the brain's bounding box (kept, with the full dims, for uncropping),
 * which shrinks a BraTS volume about threefold before any sampling.
 */
import { LABELS, type BratsCase, type BratsNaming } from './brats-case.js';
import { bboxOfMask, cropVolume, type Box3 } from './crop.js';
import { DataError } from './errors.js';
import { histogramMoments, histogramPercentiles, integerHistogram, maskedValues, moments, percentiles } from './stats.js';
import type { Dims3, NiftiGrid } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

export interface PreprocessOptions {
  /** Lower clipping percentile over the brain; default 0.5. */
  lowerPercentile?: number;
  /** Upper clipping percentile over the brain; default 99.5. */
  upperPercentile?: number;
  /** Crop to the brain's bounding box; default true. */
  cropToBrain?: boolean;
  /** Voxels kept around the brain's bounding box; default 0. */
  margin?: number;
}

export interface ChannelStats {
  /** Clipping bounds (the percentiles). */
  low: number;
  high: number;
  /** Mean and population std of the clipped brain voxels, used for the z-score. */
  mean: number;
  std: number;
  /** Brain voxels. */
  count: number;
}

export interface PreprocessedCase {
  id: string;
  naming: BratsNaming;
  /** The source images' grid, for writing outputs after uncropping. */
  grid: NiftiGrid;
  fullDims: Dims3;
  /** Where `dims` sits in the full volume. */
  box: Box3;
  dims: Dims3;
  channels: number;
  /** Channel-major (T1, T1ce, T2, FLAIR), each x-fastest over `dims`: [C, Z, Y, X] row-major. */
  images: Float32Array;
  /** 1 inside the brain. */
  mask: Uint8Array;
  /** Internal labels, or null. */
  labels: Uint8Array | null;
  /** Voxel indices of NCR, ED and ET (in that order) for tumour-centred sampling; empty without labels. */
  foreground: Uint32Array[];
  stats: ChannelStats[];
}

/** 1 where any image is nonzero. */
export function brainMask(images: readonly Float32Array[]): Uint8Array {
  const n = images[0]?.length ?? 0;
  const mask = new Uint8Array(n);
  for (const img of images) {
    if (img.length !== n) throw new ArgumentError(`brainMask: images have ${img.length} and ${n} voxels`);
    for (let i = 0; i < n; i++) if (img[i] !== 0) mask[i] = 1;
  }
  return mask;
}

/** Clips to the brain's percentiles and z-scores over the brain; writes into `out` (default a new array). */
export function normalizeInBrain(
  image: Float32Array,
  mask: Uint8Array,
  opts: Pick<PreprocessOptions, 'lowerPercentile' | 'upperPercentile'> = {},
  out: Float32Array = new Float32Array(image.length),
): ChannelStats {
  let low: number;
  let high: number;
  let mean: number;
  let std: number;
  let count: number;
  const qs = [opts.lowerPercentile ?? 0.5, opts.upperPercentile ?? 99.5];
  const hist = integerHistogram(image, mask);
  if (hist) {
    // Integer-valued images (int16 on disk, as in BraTS): exact statistics by counting.
    [low, high] = histogramPercentiles(hist, qs) as [number, number];
    ({ mean, std, count } = histogramMoments(hist, low, high));
  } else {
    const values = maskedValues(image, mask);
    [low, high] = percentiles(values, qs) as [number, number];
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      values[i] = v < low ? low : v > high ? high : v;
    }
    ({ mean, std, count } = moments(values));
  }
  if (count === 0) {
    out.fill(0);
    return { low: NaN, high: NaN, mean: NaN, std: NaN, count: 0 };
  }
  // A constant channel has std 0; leaving it at 0 after centring beats dividing by zero.
  const inv = std > 0 ? 1 / std : 1;
  for (let i = 0; i < image.length; i++) {
    if (mask[i]) {
      const v = image[i]!;
      out[i] = ((v < low ? low : v > high ? high : v) - mean) * inv;
    } else out[i] = 0;
  }
  return { low, high, mean, std, count };
}

export function preprocessCase(c: BratsCase, opts: PreprocessOptions = {}): PreprocessedCase {
  const fullMask = brainMask(c.images);
  const full: Box3 = { start: [0, 0, 0], size: [...c.dims] };
  const box = (opts.cropToBrain ?? true) ? bboxOfMask(fullMask, c.dims, opts.margin ?? 0) : full;
  if (!box) throw new DataError(`case ${c.id}`, 'every image is zero everywhere: there is no brain to normalise');
  const dims: Dims3 = [...box.size];
  const n = dims[0] * dims[1] * dims[2];
  const mask = cropVolume(fullMask, c.dims, box);
  const images = new Float32Array(c.images.length * n);
  const stats = c.images.map((img, ch) => {
    const cropped = cropVolume(img, c.dims, box);
    return normalizeInBrain(cropped, mask, opts, images.subarray(ch * n, (ch + 1) * n));
  });
  const labels = c.labels ? cropVolume(c.labels, c.dims, box) : null;
  return {
    id: c.id,
    naming: c.naming,
    grid: c.grid,
    fullDims: [...c.dims],
    box,
    dims,
    channels: c.images.length,
    images,
    mask,
    labels,
    foreground: labels ? foregroundIndices(labels) : [],
    stats,
  };
}

/** Indices of NCR, ED and ET voxels. */
export function foregroundIndices(labels: Uint8Array): Uint32Array[] {
  const counts = [0, 0, 0];
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l >= LABELS.NCR && l <= LABELS.ET) counts[l - 1]!++;
  }
  const out = counts.map((c) => new Uint32Array(c));
  const at = [0, 0, 0];
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l >= LABELS.NCR && l <= LABELS.ET) out[l - 1]![at[l - 1]!++] = i;
  }
  return out;
}
