/**
 * A case from what a person hands the page: four (or five, with a segmentation) NIfTI files
 * picked together, a folder picked or dropped, or a generated phantom. File names decide the
 * roles, as in BraTS (`<id>_t1.nii.gz` … or `<id>-t1n.nii.gz` …), so the order of the picks
 * does not matter.
 */
import { loadCaseFromBlobs, type BratsCase } from '../src/data/brats-case.js';
import { generatePhantom } from '../src/data/phantom.js';

const NIFTI = /\.nii(\.gz)?$/i;

export async function caseFromFiles(files: readonly File[]): Promise<BratsCase> {
  const volumes = files.filter((f) => NIFTI.test(f.name));
  if (volumes.length === 0) throw new Error(`none of the ${files.length} file(s) is a NIfTI volume (.nii or .nii.gz)`);
  return loadCaseFromBlobs(volumes);
}

export function phantomCase(size: number, seed: number): BratsCase {
  return generatePhantom({ size, seed });
}

/** Every file under the dropped items, folders included (Chrome, Edge, Safari and Firefox all have entries). */
export async function filesFromDrop(dt: DataTransfer): Promise<File[]> {
  const entries = Array.from(dt.items).map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  if (entries.length === 0) return Array.from(dt.files);
  const out: File[] = [];
  for (const e of entries) await collect(e, out);
  return out;
}

async function collect(entry: FileSystemEntry, out: File[]): Promise<void> {
  if (entry.isFile) {
    out.push(await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject)));
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries hands out a directory in chunks (100 at a time in Chrome) until it returns none.
  for (;;) {
    const chunk = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (chunk.length === 0) break;
    for (const c of chunk) await collect(c, out);
  }
}

export function describeCase(c: BratsCase): string {
  const [x, y, z] = c.dims;
  const sp = c.spacing.map((s) => s.toFixed(s % 1 ? 2 : 0)).join('×');
  return `${c.id}: ${x}×${y}×${z} voxels of ${sp} mm${c.labels ? ', with a reference segmentation' : ''}`;
}
