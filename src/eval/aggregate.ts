import { REPORT_ORDER } from '../data/regions.js';
import { METRICS } from './regions-metrics.js';
import type { CaseMetrics, RegionMetrics } from './regions-metrics.js';
import { mean, median } from './percentile.js';

export interface Aggregate {
  /** Number of cases aggregated. */
  n: number;
  mean: CaseMetrics;
  median: CaseMetrics;
}

/**
 * Mean and median of every metric of every region over cases. No case is dropped: the BraTS
 * empty-mask conventions make every metric finite, and the 373.13 mm HD95 penalty is meant
 * to weigh in the mean. With no cases every value is NaN.
 */
export function aggregate(cases: readonly CaseMetrics[]): Aggregate {
  const reduce = (fn: (v: Float64Array) => number): CaseMetrics => {
    const out = {} as CaseMetrics;
    for (const r of REPORT_ORDER) {
      const m = {} as RegionMetrics;
      for (const k of METRICS) m[k] = fn(Float64Array.from(cases, (c) => c[r][k]));
      out[r] = m;
    }
    return out;
  };
  return { n: cases.length, mean: reduce(mean), median: reduce(median) };
}
