import { describe, expect, it } from 'vitest';
import { aggregate, evaluateRegions, regionMasks } from '../../src/eval/index.js';
import type { CaseMetrics } from '../../src/eval/index.js';

// One row of eight voxels, W spacing 1 mm. In a volume one voxel thick every voxel is surface.
//   index: 0 1 2 3 4 5 6 7
//   gt:    0 1 2 4 4 0 0 0
//   pred:  0 2 2 4 0 0 1 0
const SHAPE = [1, 1, 8] as const;
const gt = Float32Array.of(0, 1, 2, 4, 4, 0, 0, 0);
const pred = Uint8Array.of(0, 2, 2, 4, 0, 0, 1, 0);

describe('regionMasks', () => {
  it('nests ET in TC in WT', () => {
    const m = regionMasks(gt);
    expect(Array.from(m.ET)).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
    expect(Array.from(m.TC)).toEqual([0, 1, 0, 1, 1, 0, 0, 0]);
    expect(Array.from(m.WT)).toEqual([0, 1, 1, 1, 1, 0, 0, 0]);
  });

  it('takes the ET label as a parameter (3 for BraTS 2023) and ignores other labels', () => {
    const m = regionMasks(Int16Array.of(3, 4, 1, 2, 0), 3);
    expect(Array.from(m.ET)).toEqual([1, 0, 0, 0, 0]);
    expect(Array.from(m.TC)).toEqual([1, 0, 1, 0, 0]);
    expect(Array.from(m.WT)).toEqual([1, 0, 1, 1, 0]);
    expect(() => regionMasks(gt, 2)).toThrow(/ET label/);
  });
});

describe('evaluateRegions', () => {
  it('gives the hand-computed metrics', () => {
    const m = evaluateRegions(pred, gt, SHAPE, [1, 1, 1]);
    // ET: gt {3, 4}, pred {3}: TP 1, FN 1, FP 0, TN 6.
    //   pooled distances pred→gt [0], gt→pred [0, 1]; rank 0.95·2 = 1.9 → 0.9.
    expect(m.ET.dice).toBeCloseTo(2 / 3, 15);
    expect(m.ET.sensitivity).toBe(0.5);
    expect(m.ET.specificity).toBe(1);
    expect(m.ET.hd95).toBeCloseTo(0.9, 12);
    // TC: gt {1, 3, 4}, pred {3, 6}: TP 1, FP 1, FN 2, TN 4.
    //   pred→gt [0, 2], gt→pred [2, 0, 1]; sorted [0 0 1 2 2], rank 3.8 → 2.
    expect(m.TC.dice).toBeCloseTo(0.4, 15);
    expect(m.TC.sensitivity).toBeCloseTo(1 / 3, 15);
    expect(m.TC.specificity).toBe(0.8);
    expect(m.TC.hd95).toBe(2);
    // WT: gt {1, 2, 3, 4}, pred {1, 2, 3, 6}: TP 3, FP 1, FN 1, TN 3.
    //   pred→gt [0 0 0 2], gt→pred [0 0 0 1]; sorted six 0s, 1, 2; rank 6.65 → 1.65.
    expect(m.WT.dice).toBe(0.75);
    expect(m.WT.sensitivity).toBe(0.75);
    expect(m.WT.specificity).toBe(0.75);
    expect(m.WT.hd95).toBeCloseTo(1.65, 12);
  });

  it('scales HD95 by the spacing along the row', () => {
    const m = evaluateRegions(pred, gt, SHAPE, [3, 3, 0.5]);
    expect(m.ET.hd95).toBeCloseTo(0.45, 12);
    expect(m.TC.hd95).toBe(1);
    expect(m.WT.hd95).toBeCloseTo(0.825, 12);
  });

  it('reads label 3 as ET with etLabel 3', () => {
    const gt3 = gt.map((v) => (v === 4 ? 3 : v));
    const pred3 = pred.map((v) => (v === 4 ? 3 : v));
    expect(evaluateRegions(pred3, gt3, SHAPE, [1, 1, 1], { etLabel: 3 })).toEqual(evaluateRegions(pred, gt, SHAPE, [1, 1, 1]));
  });

  it('applies the empty-region conventions per region', () => {
    // No ET anywhere; the prediction adds a false TC voxel where the gt has only oedema.
    const g = Uint8Array.of(0, 2, 2, 0, 0, 0, 0, 0);
    const p = Uint8Array.of(0, 2, 1, 0, 0, 0, 0, 0);
    const m = evaluateRegions(p, g, SHAPE, [1, 1, 1]);
    expect(m.ET).toEqual({ dice: 1, hd95: 0, sensitivity: 1, specificity: 1 });
    expect(m.TC).toEqual({ dice: 0, hd95: 373.13, sensitivity: 0, specificity: 7 / 8 });
    expect(m.WT).toEqual({ dice: 1, hd95: 0, sensitivity: 1, specificity: 1 });
  });

  it('rejects a shape that does not fit', () => {
    expect(() => evaluateRegions(pred, gt, [1, 2, 3], [1, 1, 1])).toThrow(/shape \[1, 2, 3\] holds 6 voxels but the array has 8/);
    expect(() => evaluateRegions(pred.subarray(1), gt, SHAPE, [1, 1, 1])).toThrow(/prediction/);
  });
});

describe('aggregate', () => {
  const c = (dice: number, hd95: number): CaseMetrics => {
    const r = { dice, hd95, sensitivity: dice, specificity: 1 };
    return { ET: r, TC: { ...r, dice: dice / 2 }, WT: r };
  };

  it('gives mean and median of every metric', () => {
    const a = aggregate([c(0.9, 2), c(0.5, 373.13), c(0.7, 4), c(0.8, 3)]);
    expect(a.n).toBe(4);
    expect(a.mean.ET.dice).toBeCloseTo(0.725, 15);
    expect(a.median.ET.dice).toBeCloseTo(0.75, 15);
    expect(a.mean.ET.hd95).toBeCloseTo(382.13 / 4, 12);
    expect(a.median.ET.hd95).toBe(3.5);
    expect(a.mean.TC.dice).toBeCloseTo(0.3625, 15);
    expect(a.median.WT.specificity).toBe(1);
  });

  it('gives NaN for no cases', () => {
    expect(aggregate([]).mean.WT.dice).toBeNaN();
  });
});
