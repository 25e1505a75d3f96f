/** The segmentation as a BraTS label file on the input's own grid, and a browser download of bytes. */
import { NAMINGS, labelsToBrats, type BratsCase } from '../src/data/brats-case.js';
import { encodeLabelMap } from '../src/data/nifti-write.js';

/** `<id>_hnfnet-seg.nii.gz` with labels 1, 2, 4 (or 1, 2, 3 for BraTS 2023 names), uint8. */
export function segmentationFile(c: BratsCase, labels: Uint8Array): { name: string; bytes: Uint8Array } {
  const bytes = encodeLabelMap(labelsToBrats(labels, c.naming), c.grid, { gzip: true, description: 'hnfnet segmentation' });
  return { name: `${c.id}${NAMINGS[c.naming].separator}hnfnet-seg.nii.gz`, bytes };
}

export function downloadBytes(name: string, bytes: Uint8Array, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started by now; revoking later keeps slow browsers from losing it.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
