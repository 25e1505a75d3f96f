/** BraTS cases and data sets on disk (Node): a case is a folder of NIfTI files, a data set a folder of case folders. */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MODALITIES,
  assembleCase,
  encodeCaseFiles,
  labelsToBrats,
  matchCaseFiles,
  parseCaseFileName,
  type BratsCase,
  type BratsNaming,
  type CaseEncodeOptions,
  type CaseFileKind,
  type CaseReadOptions,
  type Modality,
} from './brats-case.js';
import { makeDirs, writeFileAtomic, writeOutputFile } from './atomic-write.node.js';
import { DataError } from './errors.js';
import { LruCache, type CaseProvider, type FolderSourceSpec } from './loader.js';
import { nodeGunzip } from './nifti-file.node.js';
import { readNifti } from './nifti-read.js';
import { encodeLabelMap } from './nifti-write.js';
import { generatePhantom, type PhantomOptions } from './phantom.js';
import { preprocessCase, type PreprocessedCase } from './preprocess.js';
import type { NiftiGrid, Volume } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataError(dir, `cannot list folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** A folder entry with symbolic links followed (a data set of linked files or folders is common). */
export interface FolderEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
}

/** The entries of `dir`, links resolved to what they point at (a dangling link is neither kind). */
export async function listFolder(dir: string): Promise<FolderEntry[]> {
  return Promise.all(
    (await listDir(dir)).map(async (e) => {
      if (!e.isSymbolicLink()) return { name: e.name, isFile: e.isFile(), isDirectory: e.isDirectory() };
      const st = await stat(join(dir, e.name)).catch(() => null);
      return { name: e.name, isFile: st?.isFile() ?? false, isDirectory: st?.isDirectory() ?? false };
    }),
  );
}

/** A file named as one of a case's (an image or the segmentation). */
export interface CaseFileEntry {
  path: string;
  /** The case id its name gives. */
  id: string;
  kind: CaseFileKind;
}

/** The files of a folder that are named as a case's (its images and segmentation); links followed. */
export async function listCaseFiles(dir: string): Promise<CaseFileEntry[]> {
  return (await listFolder(dir)).flatMap((e) => {
    const p = e.isFile ? parseCaseFileName(e.name) : null;
    return p ? [{ path: join(dir, e.name), id: p.id, kind: p.kind }] : [];
  });
}

/** Case folders of a data set: its subfolders that hold BraTS images, sorted by name. */
export async function listCaseDirs(datasetDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await listFolder(datasetDir)) {
    if (!e.isDirectory) continue;
    const dir = join(datasetDir, e.name);
    const names = (await listFolder(dir)).filter((f) => f.isFile).map((f) => f.name);
    if (names.some((n) => parseCaseFileName(n) !== null)) out.push(dir);
  }
  if (out.length === 0) throw new DataError(datasetDir, 'holds no case folders with BraTS images');
  return out.sort();
}

/** Reads the case whose files are `paths` (four modalities, optionally a segmentation). */
export async function loadCaseFiles(paths: readonly string[], opts: Omit<CaseReadOptions, 'gunzip'> = {}, where = 'files'): Promise<BratsCase> {
  const set = matchCaseFiles(paths, where);
  const read = async (path: string): Promise<Volume> => {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (e) {
      throw new DataError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    return readNifti(bytes, { name: path, gunzip: nodeGunzip, nonFinite: opts.nonFinite ?? 'error' });
  };
  const [t1, t1ce, t2, flair, seg] = await Promise.all([...MODALITIES.map((m) => read(set.images[m])), set.seg ? read(set.seg) : Promise.resolve(null)]);
  const images: Record<Modality, Volume> = { t1: t1!, t1ce: t1ce!, t2: t2!, flair: flair! };
  return assembleCase(set.id, set.naming, images, seg ?? null, opts);
}

/** Reads the case in folder `dir`. */
export async function loadCase(dir: string, opts: Omit<CaseReadOptions, 'gunzip'> = {}): Promise<BratsCase> {
  const names = (await listFolder(dir)).filter((e) => e.isFile).map((e) => join(dir, e.name));
  return loadCaseFiles(names, opts, dir);
}

/** Writes a case as BraTS-style files into `dir` (created if needed); returns the paths. */
export async function writeCase(dir: string, c: BratsCase, opts: CaseEncodeOptions = {}): Promise<string[]> {
  await makeDirs(dir);
  const files = encodeCaseFiles(c, opts);
  await Promise.all(files.map((f) => writeFileAtomic(join(dir, f.name), f.bytes)));
  return files.map((f) => join(dir, f.name));
}

/** Generates a phantom and writes it as `<parent>/<id>/<id>_t1.nii.gz` …; returns the case folder. */
export async function writePhantomCase(parentDir: string, opts: PhantomOptions = {}): Promise<string> {
  const c = generatePhantom(opts);
  const dir = join(parentDir, c.id);
  await writeCase(dir, c, { naming: '2021', imageDatatype: 'int16' });
  return dir;
}

/**
 * Writes a predicted segmentation (internal labels) as `<id>_seg.nii.gz`-style output in the
 * case's own label convention, on the case's grid.
 */
export async function writeSegmentation(path: string, labels: Uint8Array, target: { grid: NiftiGrid; naming: BratsNaming }): Promise<void> {
  if (!/\.nii(\.gz)?$/i.test(path)) throw new DataError(path, 'output name must end in .nii or .nii.gz');
  const bytes = encodeLabelMap(labelsToBrats(labels, target.naming), target.grid, { gzip: /\.gz$/i.test(path), name: path });
  await writeOutputFile(path, bytes);
}

/** Case folders, read and preprocessed when first asked for, a few kept in memory. */
export function folderProvider(spec: FolderSourceSpec): CaseProvider {
  const cache = new LruCache<number, Promise<PreprocessedCase>>(spec.cacheSize ?? 2);
  return {
    count: spec.dirs.length,
    get(index: number): Promise<PreprocessedCase> {
      const dir = spec.dirs[index];
      if (dir === undefined) return Promise.reject(new ArgumentError(`folder data set: no case ${index} (have ${spec.dirs.length})`));
      let p = cache.get(index);
      if (!p) {
        p = loadCase(dir).then((c) => preprocessCase(c, spec.preprocess));
        cache.set(index, p);
        // A failed read must not stay cached as a rejected promise.
        p.catch(() => cache.delete(index));
      }
      return p;
    },
  };
}
