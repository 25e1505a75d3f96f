import { REPORT_ORDER, type Region } from '../data/regions.js';
import { METRICS } from './regions-metrics.js';
import type { CaseMetrics, MetricName } from './regions-metrics.js';
import type { Aggregate, LesionWiseAggregate } from './aggregate.js';
import type { LesionWiseCase } from './lesion-wise.js';

export type ReportFormat = 'table' | 'csv' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'csv', 'json'];

/** A case's scores: the legacy BraTS metrics, the BraTS 2023 lesion-wise ones, or both. */
export interface CaseResult {
  id: string;
  metrics?: CaseMetrics;
  lesionwise?: LesionWiseCase;
}

export interface EvaluationReport {
  cases: CaseResult[];
  /** Of the legacy metrics; present when the cases have them. */
  summary?: Aggregate;
  /** Of the lesion-wise metrics; present when the cases have them. */
  lesionwiseSummary?: LesionWiseAggregate;
  /** Files that found no partner, reported so that a missing prediction is never silent. */
  unmatched?: { pred: string[]; gt: string[] };
}

/** One column: its table and CSV headers, its cells per case and in the summary rows. */
interface Column {
  table: string;
  csv: string;
  kind: 'ratio' | 'mm' | 'count';
  cell(c: CaseResult): number | string;
  mean(r: EvaluationReport): number | string;
  median(r: EvaluationReport): number | string;
  /** Counts add up over cases: their footer row is the total. */
  total?(r: EvaluationReport): number;
}

const SHORT: Record<MetricName, string> = { dice: 'Dice', hd95: 'HD95', sensitivity: 'Sens', specificity: 'Spec' };

/** The footer rows: mean and median, and the total where there are counts. */
function footer(r: EvaluationReport, cols: readonly Column[], meanLabel: string): [string, (number | string)[]][] {
  const rows: [string, (number | string)[]][] = [
    [meanLabel, cols.map((k) => k.mean(r))],
    ['median', cols.map((k) => k.median(r))],
  ];
  if (cols.some((k) => k.total)) rows.push(['total', cols.map((k) => k.total?.(r) ?? '')]);
  return rows;
}

/** Region-major, so one region's metrics sit together; lesion-wise after the legacy ones. */
function columns(r: EvaluationReport): Column[] {
  const legacy = r.cases.some((c) => c.metrics) ? REPORT_ORDER.flatMap((region) => METRICS.map((m) => legacyColumn(region, m))) : [];
  const lesionwise = r.cases.some((c) => c.lesionwise) ? REPORT_ORDER.flatMap(lesionColumns) : [];
  return [...legacy, ...lesionwise];
}

function legacyColumn(region: Region, metric: MetricName): Column {
  return {
    table: `${region} ${SHORT[metric]}`,
    csv: `${region}_${metric}`,
    kind: metric === 'hd95' ? 'mm' : 'ratio',
    cell: (c) => c.metrics?.[region][metric] ?? NaN,
    mean: (r) => r.summary?.mean[region][metric] ?? NaN,
    median: (r) => r.summary?.median[region][metric] ?? NaN,
  };
}

function lesionColumns(region: Region): Column[] {
  const score = (m: 'dice' | 'hd95'): Column => ({
    table: `${region} LW ${m === 'dice' ? 'Dice' : 'HD95'}`,
    csv: `${region}_lesionwise_${m}`,
    kind: m === 'dice' ? 'ratio' : 'mm',
    cell: (c) => c.lesionwise?.[region][m] ?? NaN,
    mean: (r) => r.lesionwiseSummary?.mean[region][m] ?? NaN,
    median: (r) => r.lesionwiseSummary?.median[region][m] ?? NaN,
  });
  const count = (k: 'tp' | 'fn' | 'fp'): Column => ({
    table: `${region} ${k.toUpperCase()}`,
    csv: `${region}_${k}`,
    kind: 'count',
    cell: (c) => c.lesionwise?.[region][k] ?? NaN,
    mean: () => '',
    median: () => '',
    total: (r) => r.lesionwiseSummary?.total[region][k] ?? NaN,
  });
  return [score('dice'), score('hd95'), count('tp'), count('fn'), count('fp')];
}

function fixed(kind: Column['kind'], v: number | string): string {
  if (typeof v === 'string') return v;
  if (Number.isNaN(v)) return 'nan';
  return kind === 'mm' ? v.toFixed(2) : kind === 'count' ? String(v) : v.toFixed(4);
}

function summaryN(r: EvaluationReport): number {
  return r.summary?.n ?? r.lesionwiseSummary?.n ?? r.cases.length;
}

function table(r: EvaluationReport): string {
  const cols = columns(r);
  const header = ['case', ...cols.map((c) => c.table)];
  const body = r.cases.map((c) => [c.id, ...cols.map((k) => fixed(k.kind, k.cell(c)))]);
  const foot = footer(r, cols, `mean (n=${summaryN(r)})`).map(([id, cells]) => [id, ...cells.map((v, j) => fixed(cols[j]!.kind, v))]);
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
  const cols = columns(r);
  const header = ['case', ...cols.map((c) => c.csv)];
  // Full precision: the CSV is for further analysis, not for reading.
  const row = (id: string, cells: (number | string)[]) => [csvCell(id), ...cells.map(String)].join(',');
  return (
    [
      header.join(','),
      ...r.cases.map((c) => row(c.id, cols.map((k) => k.cell(c)))),
      ...footer(r, cols, 'mean').map(([id, cells]) => row(id, cells)),
    ].join('\n') + '\n'
  );
}

/**
 * A case for JSON: the legacy metrics keyed by region as before, with each region's
 * lesion-wise scores (and its lesions) under `lesionwise`.
 */
export function caseJson(c: Omit<CaseResult, 'id'>): Record<string, unknown> {
  if (!c.lesionwise) return c.metrics ?? {};
  const out: Record<string, unknown> = {};
  for (const r of REPORT_ORDER) out[r] = { ...(c.metrics?.[r] ?? {}), lesionwise: c.lesionwise[r] };
  return out;
}

function json(r: EvaluationReport): string {
  const cases: Record<string, unknown> = {};
  for (const c of r.cases) cases[c.id] = caseJson(c);
  const out = {
    cases,
    n: summaryN(r),
    ...(r.summary ? { mean: r.summary.mean, median: r.summary.median } : {}),
    ...(r.lesionwiseSummary ? { lesionwise: { mean: r.lesionwiseSummary.mean, median: r.lesionwiseSummary.median, total: r.lesionwiseSummary.total } } : {}),
    ...(r.unmatched ? { unmatched: r.unmatched } : {}),
  };
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
