import { REPORT_ORDER } from '../data/regions.js';
import type { Region } from '../data/regions.js';
import type { LesionWiseCase } from './lesion-wise.js';
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

/** Lesion-wise scores over cases: mean and median of each region's Dice and HD95, summed counts. */
export interface LesionWiseAggregate {
  n: number;
  mean: Record<Region, { dice: number; hd95: number }>;
  median: Record<Region, { dice: number; hd95: number }>;
  total: Record<Region, { tp: number; fn: number; fp: number }>;
}

export function aggregateLesionWise(cases: readonly LesionWiseCase[]): LesionWiseAggregate {
  const out: LesionWiseAggregate = { n: cases.length, mean: {} as LesionWiseAggregate['mean'], median: {} as LesionWiseAggregate['median'], total: {} as LesionWiseAggregate['total'] };
  for (const r of REPORT_ORDER) {
    const dice = Float64Array.from(cases, (c) => c[r].dice);
    const hd95 = Float64Array.from(cases, (c) => c[r].hd95);
    out.mean[r] = { dice: mean(dice), hd95: mean(hd95) };
    out.median[r] = { dice: median(dice), hd95: median(hd95) };
    out.total[r] = { tp: 0, fn: 0, fp: 0 };
    for (const c of cases) for (const k of ['tp', 'fn', 'fp'] as const) out.total[r][k] += c[r][k];
  }
  return out;
}
