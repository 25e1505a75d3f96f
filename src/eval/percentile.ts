/**
 * The q-th percentile with linear interpolation between the two nearest ranks, exactly as
 * numpy's default `np.percentile(values, q)`: rank (n − 1)·q/100, interpolated with numpy's
 * two-sided lerp so that results agree to the last bit. Sorts a copy; NaN for no values.
 */
import { ArgumentError } from '../tensor/errors.js';
export function percentile(values: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 100)) throw new ArgumentError(`percentile: q must lie in [0, 100], got ${q}`);
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return percentileOfSorted(sorted, q);
}

/** As `percentile`, for values already sorted ascending. */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = (q / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, n - 1);
  const t = rank - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

export function median(values: ArrayLike<number>): number {
  return percentile(values, 50);
}

export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return values.length === 0 ? NaN : s / values.length;
}
