import { stat } from 'node:fs/promises';
import type { Command } from './commands.js';
import { UsageError, checkKnown, optNumber, optString, parseArgs } from './args.js';
import { readNiftiFile } from '../data/nifti-file.node.js';
import type { Volume } from '../data/volume.js';
import { DataError } from '../data/errors.js';
import { REPORT_FORMATS, aggregate, aggregateLesionWise, caseId, caseJson, evaluateLesionWise, evaluateRegions, formatReport, matchCases } from '../eval/index.js';
import type { CaseMetrics, CaseResult, EvaluationReport, LesionWiseCase, ReportFormat, Shape3, Spacing3 } from '../eval/index.js';
import { findSegmentations } from '../eval/case-files.node.js';
import { ArgumentError, ShapeError } from '../tensor/errors.js';
import { refuseInputOverwrite } from '../data/output-guard.node.js';
import { probeOutputFile, writeOutputFile } from '../data/atomic-write.node.js';

const USAGE = `hnfnet eval --pred <file|folder> --gt <file|folder> [--metrics legacy|lesionwise|both] [--et-label 4|3]
            [--format table|csv|json] [--out FILE]

  Dice, HD95 (mm), sensitivity and specificity of ET, TC and WT (BraTS conventions).
  Two files: prints that case's metrics (JSON unless --format says otherwise).
  Two folders: pairs cases by id (file name without _seg/-seg and .nii[.gz]; ground-truth
  folders may hold BraTS case folders), prints every case, the mean and the median (a table
  unless --format says otherwise; --out picks the format from its extension).
  --metrics   legacy: the metrics above (BraTS 2017-2021); lesionwise: BraTS 2023's lesion-wise
              Dice and HD95 per region with the counts of found (TP), missed (FN) and false
              (FP) lesions, as its scorer defines them (26-connected lesions, ground truth
              dilated 3 times, lesions of at most 50 mm³ by the prediction's voxel size left
              out, 374 mm for a miss or a false lesion, surface-distance HD95); both.
              Default: both when the ground truth has BraTS 2023 names, legacy otherwise.
  --et-label  enhancing-tumour label: 3 for BraTS 2023 names, 4 otherwise (BraTS 2018-2021).`;

export type MetricSet = 'legacy' | 'lesionwise' | 'both';
const METRIC_SETS: readonly MetricSet[] = ['legacy', 'lesionwise', 'both'];

/** BraTS 2023 case names: BraTS-GLI-00000-000 and the like (2021's are BraTS2021_00000). */
function isBrats2023(path: string): boolean {
  return /^BraTS-[A-Za-z]+-\d+-\d+/.test(caseId(path));
}

/** Where the command writes; tests pass their own. */
export interface EvalIO {
  out(text: string): void;
  err(text: string): void;
}

const processIO: EvalIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

interface Options {
  pred: string;
  gt: string;
  /** Undefined: by the ground truth's naming. */
  metrics: MetricSet | undefined;
  /** Undefined: by the ground truth's naming. */
  etLabel: number | undefined;
  format: ReportFormat | undefined;
  out: string | undefined;
}

function parse(argv: string[]): Options {
  const a = parseArgs(argv);
  checkKnown(a, ['pred', 'gt', 'metrics', 'et-label', 'format', 'out'], 'eval');
  if (a.positional.length > 0) throw new UsageError(`hnfnet eval: unexpected argument "${a.positional[0]}"\nusage: ${USAGE}`);
  const pred = optString(a, 'pred');
  const gt = optString(a, 'gt');
  if (pred === undefined || gt === undefined) throw new UsageError(`hnfnet eval: --pred and --gt are required\nusage: ${USAGE}`);
  const metrics = optString(a, 'metrics');
  if (metrics !== undefined && !(METRIC_SETS as readonly string[]).includes(metrics)) {
    throw new UsageError(`hnfnet eval: --metrics must be one of ${METRIC_SETS.join(', ')}, got "${metrics}"`);
  }
  const etLabel = optNumber(a, 'et-label');
  if (etLabel !== undefined && etLabel !== 3 && etLabel !== 4) {
    throw new UsageError(`hnfnet eval: --et-label must be 4 (BraTS 2018-2021) or 3 (BraTS 2023), got ${etLabel}`);
  }
  const format = optString(a, 'format');
  if (format !== undefined && !(REPORT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`hnfnet eval: --format must be one of ${REPORT_FORMATS.join(', ')}, got "${format}"`);
  }
  return { pred, gt, metrics: metrics as MetricSet | undefined, etLabel, format: format as ReportFormat | undefined, out: optString(a, 'out') };
}

async function kind(path: string, flag: string): Promise<'file' | 'dir'> {
  const s = await stat(path).catch(() => null);
  if (s === null) throw new UsageError(`hnfnet eval: ${flag} ${path}: no such file or folder`);
  return s.isDirectory() ? 'dir' : 'file';
}

function fmtDims(v: Volume): string {
  return `[${v.dims.join(', ')}]`;
}

/** Labels present in a label map, for the ET-label sanity check; stops counting past 32 values. */
function labelsOf(data: Float32Array): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < data.length && seen.size <= 32; i++) seen.add(data[i]!);
  return [...seen].sort((x, y) => x - y);
}

/**
 * A label map holds integers. Values between them (a probability map, or an image resampled with
 * linear interpolation) would be rounded into labels they are not, so such a file is refused.
 * Stored floats a rounding error off an integer (scl_slope) are fine.
 */
function checkIntegerLabels(v: Volume, role: string): void {
  const d = v.data;
  for (let i = 0; i < d.length; i++) {
    const x = d[i]!;
    if (Math.abs(x - Math.round(x)) > 1e-3) {
      throw new DataError(v.name, `${role} is not a label map: voxel ${i} holds ${x}, and labels are integers (a probability map or an interpolated image? threshold or resample it with nearest neighbour first)`);
    }
  }
}

/**
 * A wrong ET label does not fail, it silently scores ET as two empty masks (Dice 1), and any
 * other unknown label is counted as background: warn when either side looks like the other BraTS
 * labelling or holds labels no region uses.
 */
function labelWarnings(v: Volume, etLabel: number, role: string): string[] {
  const labels = labelsOf(v.data).map(Math.round);
  const known = new Set([0, 1, 2, etLabel]);
  const other = [...new Set(labels.filter((l) => !known.has(l)))];
  if (other.length === 0) return [];
  const hint = etLabel === 4 && other.includes(3) ? ' (BraTS 2023 labels? pass --et-label 3)' : etLabel === 3 && other.includes(4) ? ' (BraTS 2018-2021 labels? pass --et-label 4)' : '';
  return [`${v.name} (${role}): labels [${other.join(', ')}] belong to no region with ET = ${etLabel}${hint}; they count as background`];
}

async function evaluatePair(predPath: string, gtPath: string, o: Options, metrics: MetricSet, warn: (s: string) => void): Promise<Omit<CaseResult, 'id'>> {
  const etLabel = o.etLabel ?? (isBrats2023(gtPath) ? 3 : 4);
  const [gt, pred] = await Promise.all([readNiftiFile(gtPath, { nonFinite: 'error' }), readNiftiFile(predPath, { nonFinite: 'error' })]);
  if (gt.dims.some((d, i) => d !== pred.dims[i])) {
    throw new ShapeError(`prediction ${predPath} has shape ${fmtDims(pred)} but ground truth ${gtPath} has shape ${fmtDims(gt)} (X, Y, Z); predictions must be on the ground truth's grid`);
  }
  // Spacing is the ground truth's: it defines the grid the distances are measured on.
  const [px, py, pz] = gt.spacing.map(Math.abs) as [number, number, number];
  if (![px, py, pz].every((s) => Number.isFinite(s) && s > 0)) {
    throw new DataError(gtPath, `the ground truth has no usable voxel spacing (pixdim[1..3] = [${gt.spacing.join(', ')}])`);
  }
  const predSpacing = pred.spacing.map(Math.abs) as [number, number, number];
  const differs = predSpacing.some((s, i) => Math.abs(s - [px, py, pz][i]!) > 1e-3 * Math.max(1, s));
  if (differs && metrics !== 'lesionwise') {
    warn(`${predPath}: voxel spacing [${predSpacing.join(', ')}] differs from the ground truth's [${px}, ${py}, ${pz}]; using the ground truth's for the legacy metrics`);
  }
  checkIntegerLabels(gt, 'the ground truth');
  checkIntegerLabels(pred, 'the prediction');
  for (const w of [...labelWarnings(gt, etLabel, 'ground truth'), ...labelWarnings(pred, etLabel, 'prediction')]) warn(w);
  const shape: Shape3 = [gt.dims[2], gt.dims[1], gt.dims[0]];
  const spacing: Spacing3 = [pz, py, px];
  const out: { metrics?: CaseMetrics; lesionwise?: LesionWiseCase } = {};
  if (metrics !== 'lesionwise') out.metrics = evaluateRegions(pred.data, gt.data, shape, spacing, { etLabel });
  if (metrics !== 'legacy') {
    // BraTS 2023's scorer takes spacing and voxel volume from the prediction's header.
    if (!predSpacing.every((s) => Number.isFinite(s) && s > 0)) {
      throw new DataError(predPath, `the prediction has no usable voxel spacing (pixdim[1..3] = [${pred.spacing.join(', ')}]), which the lesion-wise metrics measure on`);
    }
    out.lesionwise = evaluateLesionWise(pred.data, gt.data, shape, [predSpacing[2], predSpacing[1], predSpacing[0]], { etLabel });
  }
  return out;
}

/** The cases with the summaries of whichever metrics they have. */
function report(cases: CaseResult[]): EvaluationReport {
  const legacy = cases.flatMap((c) => (c.metrics ? [c.metrics] : []));
  const lesionwise = cases.flatMap((c) => (c.lesionwise ? [c.lesionwise] : []));
  return {
    cases,
    ...(legacy.length === cases.length && cases.length > 0 ? { summary: aggregate(legacy) } : {}),
    ...(lesionwise.length === cases.length && cases.length > 0 ? { lesionwiseSummary: aggregateLesionWise(lesionwise) } : {}),
  };
}

function defaultFormat(out: string | undefined, fallback: ReportFormat): ReportFormat {
  if (out === undefined) return fallback;
  if (/\.csv$/i.test(out)) return 'csv';
  if (/\.json$/i.test(out)) return 'json';
  return 'table';
}

async function emit(text: string, o: Options, io: EvalIO): Promise<void> {
  if (o.out === undefined) io.out(text);
  else {
    await writeOutputFile(o.out, text);
    io.err(`wrote ${o.out}\n`);
  }
}

/** The command with its output streams injected; returns the exit code. */
export async function runEval(argv: string[], io: EvalIO = processIO): Promise<number> {
  const o = parse(argv);
  const warn = (s: string) => io.err(`warning: ${s}\n`);
  const [pk, gk] = await Promise.all([kind(o.pred, '--pred'), kind(o.gt, '--gt')]);
  if (pk !== gk) throw new UsageError(`hnfnet eval: --pred and --gt must both be files or both be folders (--pred ${o.pred} is a ${pk}, --gt ${o.gt} is a ${gk})`);
  if (o.out !== undefined) {
    await probeOutputFile(o.out, '--out');
    if (pk === 'file') await refuseInputOverwrite([o.out], [o.pred, o.gt], 'hnfnet eval');
  }

  if (pk === 'file') {
    const metrics = o.metrics ?? (isBrats2023(o.gt) ? 'both' : 'legacy');
    const result = await evaluatePair(o.pred, o.gt, o, metrics, warn);
    const format = o.format ?? defaultFormat(o.out, 'json');
    if (format === 'json') await emit(JSON.stringify(caseJson(result), null, 2) + '\n', o, io);
    else await emit(formatReport(report([{ id: caseId(o.gt), ...result }]), format), o, io);
    return 0;
  }

  const [predFiles, gtFiles] = await Promise.all([findSegmentations(o.pred), findSegmentations(o.gt)]);
  const m = matchCases(predFiles, gtFiles);
  for (const d of m.duplicates) warn(`case ${d.id} has several ${d.side === 'pred' ? 'predictions' : 'ground truths'}, skipped: ${d.paths.join(', ')}`);
  if (m.gtOnly.length > 0) warn(`${m.gtOnly.length} ground truth(s) without a prediction, not evaluated:\n  ${m.gtOnly.join('\n  ')}`);
  if (m.predOnly.length > 0) warn(`${m.predOnly.length} prediction(s) without a ground truth, not evaluated:\n  ${m.predOnly.join('\n  ')}`);
  if (m.pairs.length === 0) {
    throw new ArgumentError(`no case of ${o.pred} (${predFiles.length} label maps) matches one of ${o.gt} (${gtFiles.length} label maps) by id`);
  }

  const metrics = o.metrics ?? (m.pairs.every((p) => isBrats2023(p.gt)) ? 'both' : 'legacy');
  const cases: CaseResult[] = [];
  const failed: string[] = [];
  for (const [i, p] of m.pairs.entries()) {
    if (process.stderr.isTTY && io === processIO) io.err(`\r[${i + 1}/${m.pairs.length}] ${p.id}\x1b[K`);
    try {
      cases.push({ id: p.id, ...(await evaluatePair(p.pred, p.gt, o, metrics, warn)) });
    } catch (e) {
      // One bad case should not throw away an hour of evaluation; it is listed and fails the run.
      failed.push(`${p.id}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (process.stderr.isTTY && io === processIO) io.err('\r\x1b[K');

  const unmatched = { pred: m.predOnly, gt: m.gtOnly };
  const format = o.format ?? defaultFormat(o.out, 'table');
  await emit(formatReport({ ...report(cases), unmatched }, format), o, io);
  if (failed.length > 0) {
    io.err(`error: ${failed.length} of ${m.pairs.length} case(s) could not be evaluated and are not in the summary:\n  ${failed.join('\n  ')}\n`);
    return 1;
  }
  return 0;
}

export const command: Command = {
  usage: USAGE,
  run: (argv) => runEval(argv),
};
