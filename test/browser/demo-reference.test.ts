/**
 * The demo's reference segmentation (web/reference.ts), in Node: a label file read onto a case
 * (either BraTS convention), the errors for a file of another grid or with foreign labels, and
 * its Dice equal to what `hnfnet eval`'s evaluateRegions reports on the files' labels.
 */
import { describe, expect, it } from 'vitest';
import { encodeLabelMap, encodeNifti } from '../../src/data/nifti-write.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { labelsToBrats, type BratsCase } from '../../src/data/brats-case.js';
import { evaluateRegions } from '../../src/eval/index.js';
import { referenceFromFile, regionDice } from '../../web/reference.js';

const c = generatePhantom({ size: 20, seed: 3 });
const file = (name: string, bytes: Uint8Array) => Object.assign(new Blob([bytes.slice().buffer as ArrayBuffer]), { name });

/** The phantom's labels with a slab of x moved to other labels: a prediction that differs in every region. */
function perturbed(k: BratsCase): Uint8Array {
  const out = k.labels!.slice();
  const [X] = k.dims;
  for (let i = 0; i < out.length; i++) if (i % X < 9 && out[i]) out[i] = (out[i]! % 3) + 1;
  return out;
}

describe('demo reference segmentation', () => {
  it('reads a 2018–2021 label file (ET 4) and a 2023 one (ET 3) to the case labels', async () => {
    expect(new Set(c.labels)).toEqual(new Set([0, 1, 2, 3]));
    const old = file('phantom-3_seg.nii.gz', encodeLabelMap(labelsToBrats(c.labels!, '2021'), c.grid, { gzip: true }));
    expect(await referenceFromFile(old, c)).toEqual(c.labels);
    const next = file('phantom-3-seg.nii', encodeLabelMap(labelsToBrats(c.labels!, '2023'), c.grid));
    expect(await referenceFromFile(next, c)).toEqual(c.labels);
    // A name that says no convention takes the case's (2021 for a phantom): a 4 is ET.
    const plain = file('mine.nii', encodeLabelMap(labelsToBrats(c.labels!, '2021'), c.grid));
    expect(await referenceFromFile(plain, c)).toEqual(c.labels);
  });

  it('refuses a file of another grid, or with labels BraTS does not use, naming it', async () => {
    const other = generatePhantom({ size: 16, seed: 3 });
    await expect(referenceFromFile(file('small_seg.nii', encodeLabelMap(other.labels!, other.grid)), c)).rejects.toThrow(/small_seg\.nii.*shape \[16, 16, 16\] but case phantom-3 has \[20, 20, 20\]/);
    const shifted = { ...c.grid, srow: c.grid.srow.map((row, i) => row.map((v, j) => (i === 0 && j === 3 ? v + 2 : v))) as typeof c.grid.srow };
    await expect(referenceFromFile(file('moved_seg.nii', encodeLabelMap(labelsToBrats(c.labels!, '2021'), shifted)), c)).rejects.toThrow(/moved_seg\.nii: has affine .* \(largest difference 2\.00 > 0\.001\)/);
    const bad = labelsToBrats(c.labels!, '2021');
    bad[5] = 7;
    await expect(referenceFromFile(file('bad_seg.nii', encodeLabelMap(bad, c.grid)), c)).rejects.toThrow(/bad_seg\.nii.*labels 7 \(1 voxels\)/);
    const floats = file('float_seg.nii', encodeNifti(Float32Array.from(labelsToBrats(c.labels!, '2021'), (v, i) => (i === 0 ? 0.5 : v)), c.grid, { datatype: 'float32' }));
    await expect(referenceFromFile(floats, c)).rejects.toThrow(/float_seg\.nii.*labels 0\.5/);
  });

  it("gives hnfnet eval's Dice per region", () => {
    const pred = perturbed(c);
    const d = regionDice(pred, c.labels!);
    const e = evaluateRegions(labelsToBrats(pred, '2021'), labelsToBrats(c.labels!, '2021'), [20, 20, 20], [1, 1, 1]);
    for (const r of ['WT', 'TC', 'ET'] as const) {
      expect(d[r]).toBe(e[r].dice);
      expect(d[r]).toBeGreaterThan(0);
    }
    // The slab changes labels but not the tumour's extent, so WT alone stays whole.
    expect(d.WT).toBe(1);
    expect(d.TC).toBeLessThan(1);
    expect(regionDice(c.labels!, c.labels!)).toEqual({ WT: 1, TC: 1, ET: 1 });
    expect(() => regionDice(pred.subarray(1), c.labels!)).toThrow(/holds 8000 voxels but the prediction 7999/);
  });
});
