/**
 * Order statistics and moments over voxel sets, with numpy's conventions so numbers can be checked
 * against an independent reader: percentiles use numpy's default 'linear' method, std is the
 * population std (ddof = 0), sums accumulate in float64.
 */
import { ArgumentError } from '../tensor/errors.js';

type FloatArray = Float32Array | Float64Array;

/** Puts the k-th smallest element of a[lo..hi] at index k (quickselect, median-of-three, in place). */
export function selectKth(a: FloatArray, k: number, lo = 0, hi = a.length - 1): number {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as pivot keeps sorted and reverse-sorted inputs (common in images) linear.
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

function swap(a: FloatArray, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * Percentiles (q in 0..100) with numpy.percentile's default linear interpolation, including its
 * two-sided lerp, so integer-valued data gives bit-identical results. Reorders `values` in place;
 * NaN must already be excluded.
 */
export function percentiles(values: FloatArray, qs: readonly number[]): number[] {
  const n = values.length;
  if (n === 0) return qs.map(() => NaN);
  return qs.map((q) => {
    if (!(q >= 0 && q <= 100)) throw new ArgumentError(`percentile ${q} is outside 0..100`);
    const pos = (q / 100) * (n - 1);
    const i = Math.floor(pos);
    const t = pos - i;
    const a = selectKth(values, i);
    if (t === 0 || i + 1 >= n) return a;
    // After selection everything right of i is >= a; the next order statistic is their minimum.
    let b = Infinity;
    for (let j = i + 1; j < n; j++) if (values[j]! < b) b = values[j]!;
    const d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
  });
}

export interface MomentStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
}

/** Two-pass mean and std (float64), which is what numpy's mean/std compute up to summation order. */
export function moments(values: FloatArray): MomentStats {
  const n = values.length;
  if (n === 0) return { count: 0, min: NaN, max: NaN, mean: NaN, std: NaN };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    ss += d * d;
  }
  return { count: n, min, max, mean, std: Math.sqrt(ss / n) };
}

/** The finite, nonzero voxels as a new array. */
export function nonzeroValues(data: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v !== 0 && v - v === 0) n++;
  }
  const out = new Float32Array(n);
  let k = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v !== 0 && v - v === 0) out[k++] = v;
  }
  return out;
}

/** Voxels where mask is nonzero, as a new array. */
export function maskedValues(data: Float32Array, mask: Uint8Array): Float32Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  const out = new Float32Array(n);
  let k = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) out[k++] = data[i]!;
  return out;
}

/**
 * Voxel count per distinct value (ascending), or null when there are more than `maxDistinct`
 * values. Integer data in the int16/uint16 range goes through a histogram; only other values pay
 * for a Map, which gives up as soon as the limit is passed.
 */
export function valueCounts(data: ArrayLike<number>, maxDistinct = 32): Map<number, number> | null {
  const LO = -32768;
  const hist = new Uint32Array(65536 - LO);
  let i = 0;
  for (; i < data.length; i++) {
    const v = data[i]!;
    const b = v - LO;
    if (!(b >= 0 && b < hist.length) || (b | 0) !== b) break;
    hist[b]!++;
  }
  const counts = new Map<number, number>();
  for (let b = 0; b < hist.length; b++) {
    if (hist[b]) {
      if (counts.size >= maxDistinct) return null;
      counts.set(b + LO, hist[b]!);
    }
  }
  for (; i < data.length; i++) {
    const v = data[i]!;
    const c = counts.get(v);
    if (c === undefined) {
      if (counts.size >= maxDistinct) return null;
      counts.set(v, 1);
    } else counts.set(v, c + 1);
  }
  return new Map([...counts.entries()].sort((a, b) => a[0] - b[0]));
}

/** Bin 0 holds this value; integer voxels from int16 and uint16 files all fit. */
const HIST_LO = -32768;
const HIST_BINS = 65536 - HIST_LO;

/** Counts of integer values (value v in bin v − HIST_LO). */
export interface IntegerHistogram {
  counts: Uint32Array;
  /** Values counted. */
  n: number;
}

/**
 * Histogram of the voxels selected by `mask` (all when null; nonzero ones when `nonzeroOnly`), or
 * null when any selected value is not an integer in −32768..65535. Most MRI is stored as int16,
 * and counting is ~10× faster than selection for the percentiles and exact for the sums.
 */
export function integerHistogram(data: Float32Array, mask: Uint8Array | null = null, nonzeroOnly = false): IntegerHistogram | null {
  const counts = new Uint32Array(HIST_BINS);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    if (mask && !mask[i]) continue;
    const v = data[i]!;
    if (nonzeroOnly && (v === 0 || v - v !== 0)) continue;
    const b = v - HIST_LO;
    if (!(b >= 0 && b < HIST_BINS) || (b | 0) !== b) return null;
    counts[b]!++;
    n++;
  }
  return { counts, n };
}

/** The k-th smallest counted value (0-based). */
function histogramOrder(h: IntegerHistogram, k: number): number {
  let seen = 0;
  const c = h.counts;
  for (let b = 0; b < c.length; b++) {
    seen += c[b]!;
    if (seen > k) return b + HIST_LO;
  }
  return NaN;
}

/** numpy's linear percentiles from a histogram; equal to `percentiles` on the same values. */
export function histogramPercentiles(h: IntegerHistogram, qs: readonly number[]): number[] {
  return qs.map((q) => {
    if (!(q >= 0 && q <= 100)) throw new ArgumentError(`percentile ${q} is outside 0..100`);
    if (h.n === 0) return NaN;
    const pos = (q / 100) * (h.n - 1);
    const i = Math.floor(pos);
    const t = pos - i;
    const a = histogramOrder(h, i);
    if (t === 0 || i + 1 >= h.n) return a;
    const b = histogramOrder(h, i + 1);
    const d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
  });
}

/** Moments of the counted values, each first clipped to [low, high]. */
export function histogramMoments(h: IntegerHistogram, low = -Infinity, high = Infinity): MomentStats {
  if (h.n === 0) return { count: 0, min: NaN, max: NaN, mean: NaN, std: NaN };
  const c = h.counts;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let b = 0; b < c.length; b++) {
    const k = c[b]!;
    if (k === 0) continue;
    const v = Math.min(high, Math.max(low, b + HIST_LO));
    sum += v * k;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / h.n;
  let ss = 0;
  for (let b = 0; b < c.length; b++) {
    const k = c[b]!;
    if (k === 0) continue;
    const d = Math.min(high, Math.max(low, b + HIST_LO)) - mean;
    ss += d * d * k;
  }
  return { count: h.n, min, max, mean, std: Math.sqrt(ss / h.n) };
}
