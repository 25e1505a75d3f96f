/**
 * The cases a training run reads: generated phantoms (`phantom:N[:seed]`) or a folder of BraTS
 * case folders. Folders are checked before training starts: every case's files are grouped and
 * every header is read (a few KB each, not the voxels), and all problems (a missing modality,
 * shapes that disagree, a missing segmentation, an unreadable header) are reported together,
 * each naming its case, rather than one at a time hours into a run.
 */
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { groupCaseFiles, MODALITIES, type CaseFiles } from '../data/brats-case.js';
import { folderProvider, listCaseDirs, listFolder } from '../data/case-files.node.js';
import { DataError } from '../data/errors.js';
import { isGzip } from '../data/gzip.js';
import { SameThreadLoader, phantomProvider, type BatchLoader, type CaseProvider, type LoaderConfig, type PhantomSourceSpec } from '../data/loader.js';
import { createLoader } from '../data/loader.node.js';
import { parseNiftiHeader } from '../data/nifti-header.js';
import type { PreprocessedCase } from '../data/preprocess.js';
import type { Dims3 } from '../data/volume.js';
import type { TrainConfig } from './config.js';
import { ArgumentError } from '../tensor/errors.js';

export interface DataSet {
  /** What it is, for messages. */
  description: string;
  /** Case ids: folder names, or `phantom-<seed>-<i>`. */
  ids: string[];
  /** Other names each case may be known by in a split file (its files' case id). */
  aliases: string[][];
  /** Cases `indices` (as a data set of their own), read and preprocessed when asked for. */
  provider(indices: readonly number[]): CaseProvider;
  /** Training batches over cases `indices`, from step `startStep` on. */
  loader(indices: readonly number[], config: LoaderConfig, opts: { workers: number; startStep: number }): BatchLoader;
}

function subset(p: CaseProvider, indices: readonly number[]): CaseProvider {
  return {
    count: indices.length,
    get: (i: number): Promise<PreprocessedCase> => {
      const j = indices[i];
      if (j === undefined) return Promise.reject(new ArgumentError(`data subset: no case ${i} (have ${indices.length})`));
      return p.get(j);
    },
  };
}

function phantomDataSet(count: number, seed: number, cfg: TrainConfig): DataSet {
  // Phantoms are small (64³ × 4 channels ≈ 4 MB preprocessed): keep them all rather than regenerate.
  const spec: PhantomSourceSpec = { kind: 'phantom', count, seed, size: cfg.data.phantomSize, preprocess: cfg.data.preprocess, cacheSize: count };
  const all = phantomProvider(spec);
  const ids = Array.from({ length: count }, (_, i) => `phantom-${seed}-${i}`);
  return {
    description: `${count} generated phantoms (${cfg.data.phantomSize}³, seed ${seed})`,
    ids,
    aliases: ids.map(() => []),
    provider: (indices) => subset(all, indices),
    // A phantom source cannot name a subset of its cases, so a fold's loader builds batches on
    // this thread (the batches are the same as a worker loader's: both run buildBatch).
    loader: (indices, config, opts) => new SameThreadLoader(subset(all, indices), config, opts.startStep),
  };
}

async function folderDataSet(root: string, cfg: TrainConfig): Promise<DataSet> {
  const dirs = await listCaseDirs(root);
  const files = await checkCaseFolders(dirs, { needLabels: true });
  return {
    description: `${dirs.length} cases in ${root}`,
    ids: dirs.map((d) => basename(d)),
    aliases: files.map((f) => [f.id]),
    provider: (indices) => folderProvider({ kind: 'folders', dirs: indices.map((i) => dirs[i]!), preprocess: cfg.data.preprocess, cacheSize: 1 }),
    loader: (indices, config, opts) =>
      createLoader({ kind: 'folders', dirs: indices.map((i) => dirs[i]!), preprocess: cfg.data.preprocess }, config, { workers: opts.workers, startStep: opts.startStep }),
  };
}

/** `phantom:N` or `phantom:N:SEED` → [N, SEED]; null for anything else. */
export function parsePhantomSource(source: string): [number, number] | null {
  const m = /^phantoms?:(\d+)(?::(\d+))?$/.exec(source);
  if (!m) return null;
  const n = Number(m[1]);
  if (!(n >= 1)) throw new DataError(source, 'a phantom data set needs at least one case');
  return [n, Number(m[2] ?? 0)];
}

export async function openDataSet(cfg: TrainConfig): Promise<DataSet> {
  const ph = parsePhantomSource(cfg.data.source);
  return ph ? phantomDataSet(ph[0], ph[1], cfg) : folderDataSet(cfg.data.source, cfg);
}

// ---- checking case folders -----------------------------------------------------------

/** Bytes of a (possibly gzipped) file's start: enough for any NIfTI header and its extensions. */
async function readHead(path: string, bytes = 1 << 16): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    const head = buf.subarray(0, bytesRead);
    // Z_SYNC_FLUSH inflates what a truncated stream holds instead of failing at its missing end.
    return isGzip(head) ? gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH }) : head;
  } finally {
    await fh.close();
  }
}

async function headerDims(path: string): Promise<Dims3> {
  return parseNiftiHeader(await readHead(path), path).grid.dims;
}

/**
 * Groups each folder's files into its case and reads every header; throws one DataError listing
 * every problem found. Returns each folder's case files.
 */
export async function checkCaseFolders(dirs: readonly string[], opts: { needLabels: boolean }): Promise<CaseFiles[]> {
  const problems: string[] = [];
  const out: CaseFiles[] = [];
  const why = (e: unknown): string => (e instanceof Error ? e.message : String(e));
  for (const dir of dirs) {
    let c: CaseFiles;
    try {
      const names = (await listFolder(dir)).filter((e) => e.isFile).map((e) => join(dir, e.name));
      const cases = groupCaseFiles(names, dir);
      if (cases.length !== 1) {
        problems.push(`${dir}: holds files of ${cases.length} cases${cases.length ? ` (${cases.map((x) => x.id).join(', ')})` : ''}; expected one`);
        continue;
      }
      c = cases[0]!;
    } catch (e) {
      problems.push(why(e));
      continue;
    }
    out.push(c);
    if (opts.needLabels && !c.seg) problems.push(`case ${c.id} (${dir}): no segmentation file; training needs one per case`);
    const roles: [string, string][] = MODALITIES.map((m) => [m, c.images[m]]);
    if (c.seg) roles.push(['seg', c.seg]);
    const dims: [string, string, Dims3][] = [];
    for (const [role, path] of roles) {
      try {
        dims.push([role, path, await headerDims(path)]);
      } catch (e) {
        problems.push(`case ${c.id}: ${role} ${why(e)}`);
      }
    }
    const ref = dims[0];
    for (const [role, path, d] of dims.slice(1)) {
      if (ref && d.some((v, i) => v !== ref[2][i])) problems.push(`case ${c.id}: ${role} image ${basename(path)} has shape [${d.join(', ')}] but ${ref[0]} image ${basename(ref[1])} has [${ref[2].join(', ')}]`);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 50);
    throw new DataError(
      `data set (${dirs.length} case folders)`,
      `${problems.length} problem${problems.length > 1 ? 's' : ''} found before training:\n  ${shown.join('\n  ')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`,
    );
  }
  return out;
}
