/**
 * Cross-validation splits: which fold each case of a data set belongs to. Either a seeded
 * shuffle (the same ids and seed give the same folds, whatever order the cases were listed
 * in), or a split file in the JSON form MONAI's BraTS tutorials use:
 *
 *   {"training": [{"fold": 0, "image": ["TrainingData/BraTS2021_00000/BraTS2021_00000_flair.nii.gz", …],
 *                  "label": "TrainingData/BraTS2021_00000/BraTS2021_00000_seg.nii.gz"}, …]}
 *
 * (a bare list of such entries is accepted too). Entries are matched to cases by an explicit
 * `id`/`case`/`name` field, else by the folder that holds the first image, else by the case
 * id in the image's file name (`BraTS2021_00000` from `BraTS2021_00000_flair.nii.gz`).
 */
import { parseCaseFileName } from '../data/brats-case.js';
import { Rng } from '../data/rng.js';
import { HnfnetError } from '../tensor/errors.js';

const FOLD_TAG = 0xf01d;

/** Fold of each id (same order as `ids`): a seeded shuffle of the sorted ids dealt round-robin, so folds differ in size by at most one. */
export function kFoldAssignment(ids: readonly string[], folds: number, seed: number): number[] {
  if (!(Number.isInteger(folds) && folds >= 2)) throw new HnfnetError(`splits: need at least 2 folds, got ${folds}`);
  if (new Set(ids).size !== ids.length) throw new HnfnetError('splits: case ids must be unique');
  const sorted = [...ids].sort();
  const perm = new Rng(seed, FOLD_TAG).permutation(sorted.length);
  const fold = new Map<string, number>();
  perm.forEach((src, pos) => fold.set(sorted[src]!, pos % folds));
  return ids.map((id) => fold.get(id)!);
}

interface SplitEntry {
  fold: number;
  keys: string[];
  where: string;
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((s) => s !== '');
  return parts[parts.length - 1] ?? '';
}

function parentName(p: string): string | null {
  const parts = p.split(/[\\/]/).filter((s) => s !== '');
  return parts.length >= 2 ? parts[parts.length - 2]! : null;
}

/** The names an entry may be known by, most specific first. */
function entryKeys(e: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k of ['id', 'case', 'name']) if (typeof e[k] === 'string') keys.push(e[k] as string);
  const img = Array.isArray(e.image) ? e.image[0] : e.image;
  const first = typeof img === 'string' ? img : typeof e.label === 'string' ? e.label : null;
  if (first) {
    const parent = parentName(first);
    if (parent) keys.push(parent);
    const parsed = parseCaseFileName(baseName(first));
    if (parsed) keys.push(parsed.id);
  }
  return [...new Set(keys)];
}

/** Parses a split file's text into entries (fold and the names it may match). */
export function parseSplitFile(text: string, source = 'split file'): SplitEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new HnfnetError(`${source}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const list = Array.isArray(json) ? json : typeof json === 'object' && json !== null && Array.isArray((json as { training?: unknown }).training) ? (json as { training: unknown[] }).training : null;
  if (!list) throw new HnfnetError(`${source}: expected {"training": [{"fold": k, "image": [...]}, ...]} or a list of such entries`);
  return list.map((raw, i) => {
    const where = `${source}: entry ${i}`;
    if (typeof raw !== 'object' || raw === null) throw new HnfnetError(`${where} is not an object`);
    const e = raw as Record<string, unknown>;
    if (!(typeof e.fold === 'number' && Number.isInteger(e.fold) && e.fold >= 0)) throw new HnfnetError(`${where} has no integer "fold" (got ${JSON.stringify(e.fold)})`);
    const keys = entryKeys(e);
    if (keys.length === 0) throw new HnfnetError(`${where} names no case (no "id", "case", "name", "image" or "label")`);
    return { fold: e.fold, keys, where };
  });
}

export interface SplitMatch {
  /** Fold of each case, in the order of `ids`. */
  folds: number[];
  /** Entries of the file that matched no case (a data set that is a subset of the file's). */
  unmatched: number;
}

/**
 * Folds of `ids` (case ids or folder names; `aliases[i]` lists other names of case i, e.g. its
 * folder and its file-name id) from parsed split entries. Every case must be in the file exactly
 * once: training on a case whose fold is unknown would silently leak or drop it.
 */
export function foldsFromSplit(entries: readonly SplitEntry[], ids: readonly string[], aliases: readonly (readonly string[])[] = [], folds?: number, source = 'split file'): SplitMatch {
  const caseOf = new Map<string, number>();
  ids.forEach((id, i) => {
    for (const name of [id, ...(aliases[i] ?? [])]) if (!caseOf.has(name)) caseOf.set(name, i);
  });
  const out = new Array<number>(ids.length).fill(-1);
  let unmatched = 0;
  for (const e of entries) {
    const hit = e.keys.map((k) => caseOf.get(k)).find((v) => v !== undefined);
    if (hit === undefined) {
      unmatched++;
      continue;
    }
    if (out[hit] !== -1 && out[hit] !== e.fold) throw new HnfnetError(`${source}: case ${ids[hit]} is listed in folds ${out[hit]} and ${e.fold} (${e.where})`);
    out[hit] = e.fold;
  }
  const missing = ids.filter((_, i) => out[i] === -1);
  if (missing.length) {
    const shown = missing.slice(0, 10).join(', ');
    throw new HnfnetError(`${source}: ${missing.length} case${missing.length > 1 ? 's' : ''} of the data set ${missing.length > 1 ? 'are' : 'is'} not in it: ${shown}${missing.length > 10 ? ', …' : ''}`);
  }
  if (folds !== undefined) {
    const bad = out.find((f) => f >= folds);
    if (bad !== undefined) throw new HnfnetError(`${source}: fold ${bad} is outside 0..${folds - 1} (set folds.count to match the file)`);
  }
  return { folds: out, unmatched };
}

/** Case indices to train on and to validate on for held-out fold `fold` (null: all train, none validate). */
export function foldPartition(assignment: readonly number[], fold: number | null): { train: number[]; val: number[] } {
  const train: number[] = [];
  const val: number[] = [];
  assignment.forEach((f, i) => (fold !== null && f === fold ? val : train).push(i));
  if (train.length === 0) throw new HnfnetError(`splits: holding out fold ${fold} leaves no case to train on`);
  if (fold !== null && val.length === 0) throw new HnfnetError(`splits: fold ${fold} holds no case to validate on`);
  return { train, val };
}
