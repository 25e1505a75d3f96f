/**
 * Segmentation from files to files (Node): models from weights files, one case to its label map
 * (and probability maps), and a data set (case folders) case by case, where one bad case is
 * reported and skipped so that a long run loses nothing else. `hnfnet infer` parses its flags,
 * prints, and calls these.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BratsCase } from '../data/brats-case.js';
import { describeFsError } from '../data/atomic-write.node.js';
import { listCaseDirs, listCaseFiles, loadCase, writeSegmentation } from '../data/case-files.node.js';
import { DataError } from '../data/errors.js';
import { writeNiftiFile } from '../data/nifti-file.node.js';
import { isCompleteOutput, refuseInputOverwrite } from '../data/output-guard.node.js';
import type { Region } from '../data/regions.js';
import type { SegmentationModel } from '../hnfnet/build.js';
import type { ModelConfig } from '../hnfnet/config.js';
import { loadModelFromWeights, weightsKeepLargest } from '../hnfnet/weights.js';
import type { Device } from '../tensor/device.js';
import { DeviceLostError, LimitError } from '../tensor/errors.js';
import { segmentCase, type SegmentOptions, type Segmentation } from './inferencer.js';
import { filterComponents } from './keep-largest.js';
import { predictorAt, type Precision } from './precision.js';

/** A model rebuilt from a weights file. */
export interface LoadedModel {
  model: SegmentationModel;
  config: ModelConfig;
  /** The preset the file names, if any. */
  preset: string | null;
  /** The weights file; outputs are never written over it. */
  path?: string;
  /** The keep-largest regions the file recommends (`hnfnet_keep_largest`), null where it says nothing. */
  keepLargest: Region[] | null;
}

/** The bytes of a weights file; a missing or unreadable file (or a folder) is a DataError naming the path. */
export async function readWeightsFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new DataError(path, `cannot read the weights file (${describeFsError(e)})`);
  }
}

/** Reads a weights file and rebuilds the model it describes, in eval mode (see `loadModelFromWeights`). */
export async function loadModelFile(path: string, opts: { device?: Device; fallbackPreset?: string } = {}): Promise<LoadedModel> {
  const bytes = await readWeightsFile(path);
  return { ...loadModelFromWeights(bytes, path, opts), path, keepLargest: weightsKeepLargest(bytes, path) };
}

/** The region suffixes of probability maps, in channel order. */
export const PROBABILITY_REGIONS = ['wt', 'tc', 'et'] as const;

/** The files `writeProbabilities(prefix, …)` writes: `<prefix>_wt.nii.gz`, `_tc`, `_et`. */
export function probabilityFiles(prefix: string): string[] {
  return PROBABILITY_REGIONS.map((r) => `${prefix}_${r}.nii.gz`);
}

/** Writes [3, Z, Y, X] region probabilities (WT, TC, ET) as float32 NIfTIs on the case's grid. */
export async function writeProbabilities(prefix: string, probs: Float32Array, c: BratsCase): Promise<void> {
  const n = c.dims[0] * c.dims[1] * c.dims[2];
  for (const [i, path] of probabilityFiles(prefix).entries()) {
    await writeNiftiFile(path, probs.subarray(i * n, (i + 1) * n), c.grid, { datatype: 'float32' });
  }
}

export interface CaseFileOptions extends SegmentOptions {
  /** Regions reduced to their largest connected component (26-connected) before writing. */
  keepLargest?: readonly Region[];
  /** Also write the probability maps `<prefix>_wt/_tc/_et.nii.gz`. */
  probabilitiesPrefix?: string;
  /** f16: parameters and activations stored as float16 (f32 arithmetic), where the device has shader-f16. Default f32. */
  precision?: Precision;
}

/**
 * Segments a case with a model or an ensemble and writes its labels to `target` (.nii.gz or .nii,
 * BraTS labels of the case's naming, on its grid and affine), atomically. Returns the
 * segmentation with the labels as written.
 */
export async function segmentCaseToFile(c: BratsCase, models: readonly LoadedModel[], target: string, opts: CaseFileOptions = {}): Promise<Segmentation> {
  const { keepLargest = [], probabilitiesPrefix, precision, ...segment } = opts;
  const predictors = models.map(({ model }) => predictorAt(model, precision));
  const seg = await segmentCase(c, predictors, { ...segment, keepProbabilities: segment.keepProbabilities === true || probabilitiesPrefix !== undefined });
  const labels = keepLargest.length > 0 ? filterComponents(seg.labels, c.dims, { keepLargest }).labels : seg.labels;
  await writeSegmentation(target, labels, { grid: c.grid, naming: c.naming });
  if (probabilitiesPrefix !== undefined && seg.probabilities) await writeProbabilities(probabilitiesPrefix, seg.probabilities, c);
  return { ...seg, labels };
}

/** What happened to one case of a data set; `index` counts from 0. */
export type CaseEvent =
  | { kind: 'skipped'; index: number; total: number; id: string; target: string }
  | { kind: 'redo'; index: number; total: number; id: string; target: string; why: string }
  | { kind: 'written'; index: number; total: number; id: string; target: string; segmentation: Segmentation; seconds: number }
  | { kind: 'failed'; index: number; total: number; dir: string; error: Error };

export interface CasesOptions extends Omit<CaseFileOptions, 'probabilitiesPrefix'> {
  /** Leave out cases whose `<id>.nii.gz` is already a complete segmentation on their grid; an incomplete one is redone. */
  skipExisting?: boolean;
  /** A folder for the probability maps, `<id>_wt/_tc/_et.nii.gz`. */
  probabilitiesDir?: string;
  /** Told about each case as it is skipped, written or fails. */
  onCase?: (event: CaseEvent) => void;
}

export interface CasesResult {
  total: number;
  written: number;
  skipped: number;
  /** The cases that failed, with their errors. */
  failed: { dir: string; error: Error }[];
}

/**
 * Segments case folders one by one into `out/<id>.nii.gz` (what `hnfnet eval --pred` matches by
 * id), the id named by the files so that a skipped case is not read. A case that fails (a corrupt
 * file, an output that would replace one of its inputs or a model's weights) is reported and left
 * out; a lost device or a window too large for it would fail every later case too, and is thrown.
 */
export async function segmentCases(caseDirs: readonly string[], out: string, models: readonly LoadedModel[], opts: CasesOptions = {}): Promise<CasesResult> {
  const { skipExisting = false, probabilitiesDir, onCase, ...caseOpts } = opts;
  const weights = models.flatMap((m) => (m.path === undefined ? [] : [m.path]));
  const total = caseDirs.length;
  const result: CasesResult = { total, written: 0, skipped: 0, failed: [] };
  for (const [index, dir] of caseDirs.entries()) {
    const t0 = performance.now();
    let event: CaseEvent;
    try {
      const files = await listCaseFiles(dir);
      const id = files[0]?.id;
      if (id === undefined) throw new DataError(dir, 'holds no files named as a BraTS case');
      const target = join(out, `${id}.nii.gz`);
      if (skipExisting) {
        const image = files.find((f) => f.kind !== 'seg');
        const have = image ? await isCompleteOutput(target, image.path) : { ok: false, why: '' };
        if (have.ok) {
          result.skipped++;
          onCase?.({ kind: 'skipped', index, total, id, target });
          continue;
        }
        if (have.why !== 'missing') onCase?.({ kind: 'redo', index, total, id, target, why: have.why });
      }
      const prefix = probabilitiesDir === undefined ? undefined : join(probabilitiesDir, id);
      await refuseInputOverwrite([target, ...(prefix === undefined ? [] : probabilityFiles(prefix))], [...weights, ...files.map((f) => f.path)]);
      const c = await loadCase(dir);
      const segmentation = await segmentCaseToFile(c, models, target, { ...caseOpts, ...(prefix === undefined ? {} : { probabilitiesPrefix: prefix }) });
      result.written++;
      event = { kind: 'written', index, total, id: c.id, target, segmentation, seconds: (performance.now() - t0) / 1000 };
    } catch (e) {
      if (!(e instanceof Error) || e instanceof DeviceLostError || e instanceof LimitError) throw e;
      result.failed.push({ dir, error: e });
      event = { kind: 'failed', index, total, dir, error: e };
    }
    onCase?.(event);
  }
  return result;
}

/** `segmentCases` over the case folders of a data set (a folder of case folders, sorted by name). */
export async function segmentFolder(dataset: string, out: string, models: readonly LoadedModel[], opts: CasesOptions = {}): Promise<CasesResult> {
  return segmentCases(await listCaseDirs(dataset), out, models, opts);
}
