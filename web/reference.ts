/**
 * A reference segmentation the user hands the page apart from the case (a label NIfTI on the
 * case's grid), and the Dice of the prediction against it, computed by src/eval as
 * `hnfnet eval` computes it.
 */
import { LABELS, labelsFromBrats, parseCaseFileName, type BratsCase } from '../src/data/brats-case.js';
import { readNifti } from '../src/data/nifti-read.js';
import { REGIONS, type Region } from '../src/data/regions.js';
import { affineDistance, fmtAffine, sameDims } from '../src/data/volume.js';
import { DataError } from '../src/data/errors.js';
import { dice } from '../src/eval/dice.js';
import { regionMasks } from '../src/eval/masks.js';
import { h } from './dom.js';

/** As assembleCase's check between a case's own files (mm). */
const AFFINE_TOLERANCE = 1e-3;

/**
 * The internal labels (0–3) of a label file for case `c`. Its ET label follows the file's name
 * (`*-seg` is BraTS 2023, ET 3) or else the case's naming (2018–2021: ET 4); a file on another
 * grid, or with labels BraTS does not use, is an error naming the file.
 */
export async function referenceFromFile(file: Blob & { readonly name: string }, c: BratsCase): Promise<Uint8Array> {
  const vol = readNifti(new Uint8Array(await file.arrayBuffer()), { name: file.name, nonFinite: 'error' });
  if (!sameDims(vol.dims, c.dims)) throw new DataError(file.name, `has shape [${vol.dims.join(', ')}] but case ${c.id} has [${c.dims.join(', ')}]`);
  const d = affineDistance(vol.affine, c.affine);
  if (!(d <= AFFINE_TOLERANCE)) throw new DataError(file.name, `has affine ${fmtAffine(vol.affine)} but case ${c.id} has ${fmtAffine(c.affine)} (largest difference ${d.toPrecision(3)} > ${AFFINE_TOLERANCE})`);
  return labelsFromBrats(vol.data, parseCaseFileName(file.name)?.naming ?? c.naming, file.name);
}

/** Dice of WT, TC and ET, prediction against reference (both internal labels, ET 3). */
export function regionDice(pred: Uint8Array, ref: Uint8Array): Record<Region, number> {
  if (pred.length !== ref.length) throw new DataError('reference', `holds ${ref.length} voxels but the prediction ${pred.length}`);
  const p = regionMasks(pred, LABELS.ET);
  const r = regionMasks(ref, LABELS.ET);
  return { WT: dice(p.WT, r.WT), TC: dice(p.TC, r.TC), ET: dice(p.ET, r.ET) };
}

/**
 * The Dice line under the viewer: six decimals, so that the page states what src/eval computed
 * (a test compares them to 1e-6); each value also in `data-dice-<region>`.
 */
export function diceLine(d: Record<Region, number>, source: string): HTMLElement {
  return h(
    'span',
    {},
    `Dice against ${source}: `,
    ...REGIONS.flatMap((r, i) => [i ? ', ' : '', h('span', { [`data-dice-${r.toLowerCase()}`]: String(d[r]) }, `${r} ${d[r].toFixed(6)}`)]),
    '.',
  );
}
