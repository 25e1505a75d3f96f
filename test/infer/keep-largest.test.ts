import { describe, expect, it } from 'vitest';
import { filterComponents, parseRegionList } from '../../src/infer/keep-largest.js';
import { decideKeepLargest } from '../../src/infer/keep-largest-decision.js';
import { command as infer } from '../../src/cli/infer-command.js';
import { UsageError } from '../../src/cli/args.js';
import type { Dims3 } from '../../src/data/volume.js';

// Internal labels: 1 NCR, 2 ED, 3 ET. Grid [X, Y, Z] = [12, 6, 5], x fastest.
const dims: Dims3 = [12, 6, 5];
const at = (x: number, y: number, z: number) => x + dims[0] * (y + dims[1] * z);

function volume(boxes: [number, number, number, number, number, number, number][]): Uint8Array {
  const v = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (const [x0, y0, z0, x1, y1, z1, label] of boxes)
    for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) v[at(x, y, z)] = label;
  return v;
}

function count(v: Uint8Array, label: number): number {
  return v.reduce((s, l) => s + (l === label ? 1 : 0), 0);
}

describe('connected-component post-processing', () => {
  // A tumour: ED box 4×4×3 with an NCR/ET core; a second, smaller ED blob far along x with an ET dot.
  const seg = () =>
    volume([
      [0, 0, 0, 4, 4, 3, 2],
      [1, 1, 1, 3, 3, 2, 1],
      [1, 1, 1, 2, 2, 2, 3],
      [8, 0, 0, 10, 2, 2, 2],
      [9, 1, 1, 10, 2, 2, 3],
    ]);

  it('keeps only the largest WT component; everything outside it becomes background', () => {
    const r = filterComponents(seg(), dims, { keepLargest: ['WT'] });
    expect(r.removed).toEqual({ WT: 8, TC: 0, ET: 0 });
    for (let z = 0; z < 2; z++) for (let y = 0; y < 2; y++) for (let x = 8; x < 10; x++) expect(r.labels[at(x, y, z)]).toBe(0);
    expect(count(r.labels, 2)).toBe(48 - 4);
    expect(count(r.labels, 3)).toBe(1);
  });

  it('turns a dropped TC into ED and a dropped ET into NCR, so that WT is unchanged', () => {
    const r = filterComponents(seg(), dims, { keepLargest: ['TC', 'ET'] });
    expect(r.removed).toEqual({ WT: 0, TC: 1, ET: 0 });
    expect(r.labels[at(9, 1, 1)]).toBe(2); // the small blob's ET dot: its own TC component, not the largest
    // Two ET components of one voxel each: a tie, and nnU-Net keeps every component of the largest size.
    const two = volume([[0, 0, 0, 1, 1, 1, 3], [5, 5, 4, 6, 6, 5, 3]]);
    expect(filterComponents(two, dims, { keepLargest: ['ET'] }).removed.ET).toBe(0);
    const big = volume([[0, 0, 0, 2, 1, 1, 3], [5, 5, 4, 6, 6, 5, 3]]);
    const r2 = filterComponents(big, dims, { keepLargest: ['ET'] });
    expect([r2.labels[at(5, 5, 4)], r2.labels[at(0, 0, 0)], r2.removed.ET]).toEqual([1, 3, 1]);
  });

  it('joins voxels touching at a corner (26-connectivity) unless told otherwise', () => {
    const diag = volume([[0, 0, 0, 2, 2, 2, 2], [2, 2, 2, 3, 3, 3, 2]]);
    expect(filterComponents(diag, dims, { keepLargest: ['WT'] }).removed.WT).toBe(0);
    expect(filterComponents(diag, dims, { keepLargest: ['WT'], connectivity: 6 }).removed.WT).toBe(1);
  });

  it('removes components below a size per region and leaves the input alone', () => {
    const input = seg();
    const before = input.slice();
    const r = filterComponents(input, dims, { minVoxels: { WT: 9 } });
    expect(r.removed.WT).toBe(8);
    expect(filterComponents(input, dims, { minVoxels: { WT: 8 } }).removed.WT).toBe(0);
    expect(input).toEqual(before);
    expect(filterComponents(input, dims).labels).toEqual(before);
  });

  it('names bad input', () => {
    expect(() => filterComponents(new Uint8Array(3), dims)).toThrow('filterComponents: labels hold 3 voxels but the grid [12, 6, 5] has 360');
    expect(() => filterComponents(seg(), dims, { minVoxels: { WT: -1 } })).toThrow(/minVoxels.WT must be a non-negative integer/);
    expect(parseRegionList('wt, TC,wt', 'x')).toEqual(['WT', 'TC']);
    expect(() => parseRegionList('WT,NCR', '--keep-largest')).toThrow('--keep-largest: unknown region "NCR" (expected WT, TC and/or ET, comma-separated)');
  });

  it('hnfnet infer rejects an unknown --keep-largest region before loading anything', async () => {
    await expect(infer.run(['--model', 'm.safetensors', '--case', 'nowhere', '--out', 'o.nii.gz', '--keep-largest', 'WT,XX'])).rejects.toThrow(UsageError);
  });

  it('decides per region on the folds, adopting keep-largest only where it raises the mean Dice', () => {
    const tumour: [number, number, number, number, number, number, number][] = [
      [0, 0, 0, 4, 4, 3, 2],
      [1, 1, 1, 3, 3, 2, 1],
    ];
    const gt = volume(tumour);
    // Case 1: a false ED blob far away (removing it helps WT). Case 2: the same, and correct.
    const withFp = volume([...tumour, [8, 0, 0, 10, 2, 2, 2]]);
    const d = decideKeepLargest([
      { pred: withFp, gt, dims },
      { pred: gt.slice(), gt, dims },
    ]);
    expect(d.keepLargest).toEqual(['WT']);
    const wt = d.trials[0]!;
    // Case 1's WT Dice: 2·48 / (56 + 48) without, 1 with; case 2: 1 both ways.
    expect(wt.diceWithout).toBeCloseTo((96 / 104 + 1) / 2, 12);
    expect(wt.diceWith).toBe(1);
    expect(d.trials.slice(1).map((t) => [t.region, t.adopted])).toEqual([
      ['TC', false],
      ['ET', false],
    ]);
    // A second, real lesion that the prediction finds: keeping the largest would lose it.
    const two = volume([...tumour, [8, 0, 0, 10, 2, 2, 2]]);
    expect(decideKeepLargest([{ pred: two.slice(), gt: two, dims }]).keepLargest).toEqual([]);
    expect(() => decideKeepLargest([])).toThrow(/no cases/);
  });
});
