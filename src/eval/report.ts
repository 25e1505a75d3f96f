import { REPORT_ORDER, type Region } from '../data/regions.js';
import { METRICS } from './regions-metrics.js';
import type { CaseMetrics, MetricName } from './regions-metrics.js';
import type { Aggregate } from './aggregate.js';

export type ReportFormat = 'table' | 'csv' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'csv', 'json'];

export interface CaseResult {
  id: string;
  metrics: CaseMetrics;
}

export interface EvaluationReport {
  cases: CaseResult[];
  summary: Aggregate;
  /** Files that found no partner, reported so that a missing prediction is never silent. */
  unmatched?: { pred: string[]; gt: string[] };
}

/** Column order everywhere: region-major, so one region's four metrics sit together. */
const COLUMNS: readonly { region: Region; metric: MetricName }[] = REPORT_ORDER.flatMap((region) =>
  METRICS.map((metric) => ({ region, metric })),
);

const SHORT: Record<MetricName, string> = { dice: 'Dice', hd95: 'HD95', sensitivity: 'Sens', specificity: 'Spec' };

function fixed(metric: MetricName, v: number): string {
  if (Number.isNaN(v)) return 'nan';
  return metric === 'hd95' ? v.toFixed(2) : v.toFixed(4);
}

function table(r: EvaluationReport): string {
  const header = ['case', ...COLUMNS.map((c) => `${c.region} ${SHORT[c.metric]}`)];
  const row = (id: string, m: CaseMetrics) => [id, ...COLUMNS.map((c) => fixed(c.metric, m[c.region][c.metric]))];
  const body = r.cases.map((c) => row(c.id, c.metrics));
  const foot = [row(`mean (n=${r.summary.n})`, r.summary.mean), row('median', r.summary.median)];
  const all = [header, ...body, ...foot];
  const widths = header.map((_, j) => Math.max(...all.map((line) => line[j]!.length)));
  const fmt = (line: string[]) => line.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [fmt(header), rule, ...body.map(fmt), rule, ...foot.map(fmt)].join('\n') + '\n';
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(r: EvaluationReport): string {
  const header = ['case', ...COLUMNS.map((c) => `${c.region}_${c.metric}`)];
  // Full precision: the CSV is for further analysis, not for reading.
  const row = (id: string, m: CaseMetrics) => [csvCell(id), ...COLUMNS.map((c) => String(m[c.region][c.metric]))].join(',');
  return [header.join(','), ...r.cases.map((c) => row(c.id, c.metrics)), row('mean', r.summary.mean), row('median', r.summary.median)].join('\n') + '\n';
}

function json(r: EvaluationReport): string {
  const cases: Record<string, CaseMetrics> = {};
  for (const c of r.cases) cases[c.id] = c.metrics;
  const out = { cases, n: r.summary.n, mean: r.summary.mean, median: r.summary.median, ...(r.unmatched ? { unmatched: r.unmatched } : {}) };
  return JSON.stringify(out, null, 2) + '\n';
}

export function formatReport(r: EvaluationReport, format: ReportFormat): string {
  switch (format) {
    case 'table':
      return table(r);
    case 'csv':
      return csv(r);
    case 'json':
      return json(r);
  }
}
