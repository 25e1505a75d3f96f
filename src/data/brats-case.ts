/**
 * BraTS cases: which files make a case, reading them as one multi-modal volume, and the label
 * conventions.
 *
 * Internal convention (what the rest of hnfnet sees): channels in the order T1, T1ce, T2, FLAIR;
 * labels 0 background, 1 NCR (necrotic / non-enhancing core), 2 ED (oedema), 3 ET (enhancing
 * tumour). BraTS 2018–2021 files store ET as 4 and are named `*_t1, *_t1ce, *_t2, *_flair, *_seg`;
 * BraTS 2023 stores ET as 3 and names them `*-t1n, *-t1c, *-t2w, *-t2f, *-seg`. Outputs are
 * converted back to the case's own convention when written.
 */
import { DataError, fmtList } from './errors.js';
import type { GunzipFn } from './gzip.js';
import { readNifti, type NonFinitePolicy } from './nifti-read.js';
import { encodeLabelMap, encodeNifti, type GzipLevel } from './nifti-write.js';
import { affineDistance, fmtAffine, sameDims, type Affine, type Dims3, type NiftiGrid, type Volume } from './volume.js';

export const MODALITIES = ['t1', 't1ce', 't2', 'flair'] as const;
export type Modality = (typeof MODALITIES)[number];
export type CaseFileKind = Modality | 'seg';

/** '2021' stands for the 2018–2021 challenges, which share names and labels. */
export type BratsNaming = '2021' | '2023';

export interface NamingConvention {
  separator: '_' | '-';
  suffix: Readonly<Record<CaseFileKind, string>>;
  /** The enhancing-tumour label in files of this convention. */
  etLabel: number;
}

export const NAMINGS: Readonly<Record<BratsNaming, NamingConvention>> = {
  '2021': { separator: '_', suffix: { t1: 't1', t1ce: 't1ce', t2: 't2', flair: 'flair', seg: 'seg' }, etLabel: 4 },
  '2023': { separator: '-', suffix: { t1: 't1n', t1ce: 't1c', t2: 't2w', flair: 't2f', seg: 'seg' }, etLabel: 3 },
};

/** Internal label values. */
export const LABELS = { background: 0, NCR: 1, ED: 2, ET: 3 } as const;

export interface CaseFiles {
  id: string;
  naming: BratsNaming;
  images: Record<Modality, string>;
  /** null for a case without a segmentation (validation / test data). */
  seg: string | null;
}

const PATTERNS: readonly [BratsNaming, RegExp][] = [
  ['2021', /^(.+)_(t1|t1ce|t2|flair|seg)\.nii(?:\.gz)?$/i],
  ['2023', /^(.+)-(t1n|t1c|t2w|t2f|seg)\.nii(?:\.gz)?$/i],
];

function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1]!;
}

/** Recognises one file name: its case id, convention and role; null for files that are not BraTS volumes. */
export function parseCaseFileName(name: string): { id: string; naming: BratsNaming; kind: CaseFileKind } | null {
  const base = baseName(name);
  for (const [naming, re] of PATTERNS) {
    const m = re.exec(base);
    if (!m) continue;
    const suffix = m[2]!.toLowerCase();
    const conv = NAMINGS[naming].suffix;
    const kind = (Object.keys(conv) as CaseFileKind[]).find((k) => conv[k] === suffix)!;
    return { id: m[1]!, naming, kind };
  }
  return null;
}

/**
 * Groups file names (paths or bare names) into cases. Files that are not BraTS volumes are
 * ignored; a case missing a modality, or with two files for one role, is an error.
 */
export function groupCaseFiles(names: readonly string[], where = 'files'): CaseFiles[] {
  const groups = new Map<string, { naming: BratsNaming; files: Partial<Record<CaseFileKind, string>> }>();
  for (const name of names) {
    const p = parseCaseFileName(name);
    if (!p) continue;
    const key = `${p.naming}\u0000${p.id}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { naming: p.naming, files: {} }));
    const prev = g.files[p.kind];
    if (prev !== undefined) throw new DataError(where, `case ${p.id} has two files for ${p.kind}: ${baseName(prev)} and ${baseName(name)}`);
    g.files[p.kind] = name;
  }
  const out: CaseFiles[] = [];
  for (const [key, g] of groups) {
    const id = key.split('\u0000')[1]!;
    const missing = MODALITIES.filter((m) => g.files[m] === undefined);
    if (missing.length > 0) {
      const conv = NAMINGS[g.naming];
      const want = missing.map((m) => `${conv.separator}${conv.suffix[m]}.nii[.gz]`).join(', ');
      throw new DataError(where, `case ${id} (BraTS ${g.naming === '2021' ? '2018–2021' : '2023'} names) has no ${missing.join(', ')} image (expected files ending ${want})`);
    }
    out.push({
      id,
      naming: g.naming,
      images: { t1: g.files.t1!, t1ce: g.files.t1ce!, t2: g.files.t2!, flair: g.files.flair! },
      seg: g.files.seg ?? null,
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The single case in a folder's file list. */
export function matchCaseFiles(names: readonly string[], where = 'files'): CaseFiles {
  const cases = groupCaseFiles(names, where);
  if (cases.length === 0) {
    throw new DataError(where, 'no BraTS images found (expected *_t1, *_t1ce, *_t2, *_flair[, *_seg] or *-t1n, *-t1c, *-t2w, *-t2f[, *-seg] .nii/.nii.gz files)');
  }
  if (cases.length > 1) throw new DataError(where, `holds files of ${cases.length} cases (${cases.map((c) => c.id).join(', ')}); expected one`);
  return cases[0]!;
}

export interface BratsCase {
  id: string;
  naming: BratsNaming;
  dims: Dims3;
  spacing: Dims3;
  affine: Affine;
  /** The T1 image's grid; outputs are written on it. */
  grid: NiftiGrid;
  /** T1, T1ce, T2, FLAIR; each x-fastest over `dims`. */
  images: Float32Array[];
  /** Internal labels (0, 1 NCR, 2 ED, 3 ET), or null without a segmentation. */
  labels: Uint8Array | null;
  files: Record<CaseFileKind, string | null>;
}

export interface AssembleOptions {
  /** Largest allowed difference between affine entries of a case's files; default 1e-3 (mm). */
  affineTolerance?: number;
}

/** Checks that a case's volumes share one grid, and converts the segmentation to internal labels. */
export function assembleCase(
  id: string,
  naming: BratsNaming,
  images: Readonly<Record<Modality, Volume>>,
  seg: Volume | null,
  opts: AssembleOptions = {},
): BratsCase {
  const tol = opts.affineTolerance ?? 1e-3;
  const ref = images.t1;
  const all: [CaseFileKind, Volume][] = MODALITIES.map((m) => [m, images[m]] as [CaseFileKind, Volume]);
  if (seg) all.push(['seg', seg]);
  for (const [kind, v] of all) {
    if (!sameDims(v.dims, ref.dims)) {
      throw new DataError(`case ${id}`, `${kind} image ${v.name} has shape ${fmtList(v.dims)} but t1 image ${ref.name} has ${fmtList(ref.dims)}`);
    }
    const d = affineDistance(v.affine, ref.affine);
    if (!(d <= tol)) {
      throw new DataError(
        `case ${id}`,
        `${kind} image ${v.name} has affine ${fmtAffine(v.affine)} but t1 image ${ref.name} has ${fmtAffine(ref.affine)} (largest difference ${d.toPrecision(3)} > ${tol})`,
      );
    }
  }
  return {
    id,
    naming,
    dims: [...ref.dims],
    spacing: [...ref.spacing],
    affine: ref.affine,
    grid: ref.grid,
    images: MODALITIES.map((m) => images[m].data),
    labels: seg ? labelsFromBrats(seg.data, naming, seg.name) : null,
    files: {
      t1: images.t1.name,
      t1ce: images.t1ce.name,
      t2: images.t2.name,
      flair: images.flair.name,
      seg: seg ? seg.name : null,
    },
  };
}

/** File labels (0, 1, 2, and 4 or 3 for ET) → internal labels; any other value is an error. */
export function labelsFromBrats(data: ArrayLike<number>, naming: BratsNaming, source: string): Uint8Array {
  const et = NAMINGS[naming].etLabel;
  const map = new Int16Array(256).fill(-1);
  map[0] = LABELS.background;
  map[1] = LABELS.NCR;
  map[2] = LABELS.ED;
  map[et] = LABELS.ET;
  const out = new Uint8Array(data.length);
  const bad = new Map<number, number>();
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    const m = v >= 0 && v < 256 && (v | 0) === v ? map[v]! : -1;
    if (m < 0) bad.set(v, (bad.get(v) ?? 0) + 1);
    else out[i] = m;
  }
  if (bad.size > 0) {
    const list = [...bad].slice(0, 8).map(([v, c]) => `${v} (${c} voxels)`).join(', ');
    throw new DataError(source, `segmentation holds labels ${list} that BraTS ${naming === '2021' ? '2018–2021' : '2023'} does not use (expected 0, 1, 2, ${et})`);
  }
  return out;
}

/** Internal labels → the file convention of `naming` (ET becomes 4 for 2018–2021, stays 3 for 2023). */
export function labelsToBrats(labels: Uint8Array, naming: BratsNaming): Uint8Array {
  const et = NAMINGS[naming].etLabel;
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    out[i] = v === LABELS.ET ? et : v;
  }
  return out;
}

export interface CaseReadOptions extends AssembleOptions {
  gunzip?: GunzipFn;
  /** Default 'error': a NaN in an input image would poison training. */
  nonFinite?: NonFinitePolicy;
}

export interface NamedBytes {
  name: string;
  bytes: Uint8Array | ArrayBuffer;
}

/** Reads a case from in-memory files (a browser's File list, after arrayBuffer()). */
export function loadCaseFromBuffers(files: readonly NamedBytes[], opts: CaseReadOptions = {}, where = 'files'): BratsCase {
  const set = matchCaseFiles(
    files.map((f) => f.name),
    where,
  );
  const byName = new Map(files.map((f) => [f.name, f.bytes]));
  const read = (name: string): Volume =>
    readNifti(byName.get(name)!, { name, nonFinite: opts.nonFinite ?? 'error', ...(opts.gunzip ? { gunzip: opts.gunzip } : {}) });
  const images = {} as Record<Modality, Volume>;
  for (const m of MODALITIES) images[m] = read(set.images[m]);
  return assembleCase(set.id, set.naming, images, set.seg ? read(set.seg) : null, opts);
}

/** Reads a case from browser Files (e.g. an <input type=file multiple> selection). */
export async function loadCaseFromBlobs(files: readonly (Blob & { readonly name: string })[], opts: CaseReadOptions = {}): Promise<BratsCase> {
  const buffers = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  return loadCaseFromBuffers(buffers, opts);
}

/** The file name a case file gets under a naming convention, e.g. `Brats18_X_t1ce.nii.gz`. */
export function caseFileName(id: string, kind: CaseFileKind, naming: BratsNaming, gzip = true): string {
  const c = NAMINGS[naming];
  return `${id}${c.separator}${c.suffix[kind]}.nii${gzip ? '.gz' : ''}`;
}

export interface CaseEncodeOptions {
  naming?: BratsNaming;
  /** Images are rounded and clipped to int16 (the BraTS on-disk type) unless 'float32'. */
  imageDatatype?: 'int16' | 'float32';
  gzip?: boolean;
  level?: GzipLevel;
}

/** A case as BraTS-style NIfTI files (images, and the segmentation in the convention's labels). */
export function encodeCaseFiles(c: BratsCase, opts: CaseEncodeOptions = {}): { name: string; bytes: Uint8Array }[] {
  const naming = opts.naming ?? c.naming;
  const gz = opts.gzip ?? true;
  const type = opts.imageDatatype ?? 'int16';
  const level = opts.level ?? 6;
  const out = MODALITIES.map((m, i) => {
    const img = c.images[i]!;
    const data = type === 'int16' ? Int16Array.from(img, (v) => Math.max(-32768, Math.min(32767, Math.round(v)))) : img;
    return { name: caseFileName(c.id, m, naming, gz), bytes: encodeNifti(data, c.grid, { datatype: type, gzip: gz, level }) };
  });
  if (c.labels) {
    out.push({ name: caseFileName(c.id, 'seg', naming, gz), bytes: encodeLabelMap(labelsToBrats(c.labels, naming), c.grid, { gzip: gz, level }) });
  }
  return out;
}
