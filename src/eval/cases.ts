/**
 * Pairing prediction files with ground-truth files by case id. Pure string work on paths, so
 * that the browser demo can pair dropped files the same way the command pairs folders.
 */

const NIFTI_EXT = /\.nii(\.gz)?$/i;
const SEG_SUFFIX = /[_-]seg$/i;

export function isNiftiPath(path: string): boolean {
  return NIFTI_EXT.test(baseName(path));
}

export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

/** The file name without its NIfTI extension. */
export function stem(path: string): string {
  return baseName(path).replace(NIFTI_EXT, '');
}

/** Whether the file is named as a segmentation: `<id>_seg.nii.gz` (2018–2021) or `<id>-seg.nii.gz` (2023). */
export function isSegName(path: string): boolean {
  return SEG_SUFFIX.test(stem(path));
}

/** `Brats18_X_1_seg.nii.gz` → `Brats18_X_1`; `BraTS-GLI-00000-000-seg.nii` → `BraTS-GLI-00000-000`; `X.nii.gz` → `X`. */
export function caseId(path: string): string {
  return stem(path).replace(SEG_SUFFIX, '');
}

/** Image modalities of BraTS 2018–2021 (`_t1ce`) and 2023 (`-t1c`), which are never label maps. */
const MODALITY_SUFFIX = /[_-](t1|t1ce|t1gd|t2|flair|t1n|t1c|t2w|t2f)$/i;

export function isModalityName(path: string): boolean {
  return MODALITY_SUFFIX.test(stem(path));
}

function dirName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * The label maps among NIfTI paths: modality images are dropped, and a folder that holds
 * modality images is a BraTS case folder, in which only `*_seg` / `*-seg` files count (so a
 * brain mask or other extra file there is not taken for a case). Elsewhere every NIfTI file is
 * a label map, so a prediction folder may mix `<id>.nii.gz` and `<id>_seg.nii.gz`.
 */
export function selectSegmentations(paths: readonly string[]): string[] {
  const nifti = paths.filter(isNiftiPath);
  const caseFolders = new Set(nifti.filter(isModalityName).map(dirName));
  return nifti.filter((p) => !isModalityName(p) && (isSegName(p) || !caseFolders.has(dirName(p))));
}

export interface CasePair {
  id: string;
  pred: string;
  gt: string;
}

export interface CaseMatch {
  /** Pairs sorted by id. */
  pairs: CasePair[];
  /** Predictions with no ground truth, and ground truths with no prediction. */
  predOnly: string[];
  gtOnly: string[];
  /** Ids claimed by more than one file on one side; these are left out of `pairs`. */
  duplicates: { side: 'pred' | 'gt'; id: string; paths: string[] }[];
}

function byId(paths: readonly string[], side: 'pred' | 'gt', duplicates: CaseMatch['duplicates']): Map<string, string> {
  const groups = new Map<string, string[]>();
  for (const p of paths) {
    const id = caseId(p);
    const g = groups.get(id);
    if (g) g.push(p);
    else groups.set(id, [p]);
  }
  const out = new Map<string, string>();
  for (const [id, g] of groups) {
    if (g.length === 1) out.set(id, g[0]!);
    else duplicates.push({ side, id, paths: [...g].sort() });
  }
  return out;
}

/** Pairs segmentation files by case id; `predPaths` and `gtPaths` are already-selected label maps. */
export function matchCases(predPaths: readonly string[], gtPaths: readonly string[]): CaseMatch {
  const duplicates: CaseMatch['duplicates'] = [];
  const pred = byId(predPaths, 'pred', duplicates);
  const gt = byId(gtPaths, 'gt', duplicates);
  const dupIds = new Set(duplicates.map((d) => d.id));
  const pairs: CasePair[] = [];
  const predOnly: string[] = [];
  const gtOnly: string[] = [];
  for (const [id, p] of pred) {
    const g = gt.get(id);
    if (g !== undefined) pairs.push({ id, pred: p, gt: g });
    else if (!dupIds.has(id)) predOnly.push(p);
  }
  for (const [id, g] of gt) if (!pred.has(id) && !dupIds.has(id)) gtOnly.push(g);
  pairs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { pairs, predOnly: predOnly.sort(), gtOnly: gtOnly.sort(), duplicates };
}
