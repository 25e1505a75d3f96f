import { describe, expect, it } from 'vitest';
import { confusion, dice, diceFromConfusion, sensitivity, specificity } from '../../src/eval/index.js';
import { box } from './reference.js';

const S = [10, 10, 10] as const;

describe('dice', () => {
  it('is 0.5 for two 4³ cubes overlapping in half their volume', () => {
    // Shifted by 2 along W: overlap 4·4·2 = 32 voxels; 2·32 / (64 + 64).
    const a = box(S, [0, 0, 0], [4, 4, 4]);
    const b = box(S, [0, 0, 2], [4, 4, 6]);
    expect(dice(a, b)).toBe(0.5);
  });

  it('is 16/35 for a 2³ cube inside a 3³ cube', () => {
    const a = box(S, [1, 1, 1], [4, 4, 4]);
    const b = box(S, [2, 2, 2], [4, 4, 4]);
    expect(dice(a, b)).toBeCloseTo(16 / 35, 15);
    expect(dice(b, a)).toBeCloseTo(16 / 35, 15);
  });

  it('is 0 for disjoint cubes and 1 for identical ones', () => {
    expect(dice(box(S, [0, 0, 0], [3, 3, 3]), box(S, [5, 5, 5], [8, 8, 8]))).toBe(0);
    expect(dice(box(S, [2, 3, 4], [5, 6, 7]), box(S, [2, 3, 4], [5, 6, 7]))).toBe(1);
  });

  it('follows BraTS for empty masks: both empty 1, one empty 0', () => {
    const empty = new Uint8Array(1000);
    const cube = box(S, [0, 0, 0], [2, 2, 2]);
    expect(dice(empty, new Uint8Array(1000))).toBe(1);
    expect(dice(empty, cube)).toBe(0);
    expect(dice(cube, empty)).toBe(0);
  });

  it('treats any nonzero byte as set', () => {
    expect(dice(Uint8Array.of(0, 7, 255, 1), Uint8Array.of(0, 1, 1, 0))).toBeCloseTo(0.8, 15);
  });
});

describe('confusion, sensitivity, specificity', () => {
  // pred: 1 1 0 0 1 0 0 0
  // gt:   1 0 1 0 1 0 0 0   → TP 2 (0, 4), FP 1 (1), FN 1 (2), TN 4
  const pred = Uint8Array.of(1, 1, 0, 0, 1, 0, 0, 0);
  const gt = Uint8Array.of(1, 0, 1, 0, 1, 0, 0, 0);

  it('counts a hand-made case', () => {
    const c = confusion(pred, gt);
    expect(c).toEqual({ tp: 2, fp: 1, fn: 1, tn: 4 });
    expect(sensitivity(c)).toBeCloseTo(2 / 3, 15);
    expect(specificity(c)).toBe(0.8);
    expect(diceFromConfusion(c)).toBeCloseTo(4 / 6, 15);
  });

  it('uses the BraTS 2023 conventions for an empty ground truth', () => {
    const none = new Uint8Array(8);
    // Nothing to find and nothing predicted.
    expect(sensitivity(confusion(none, none))).toBe(1);
    expect(specificity(confusion(none, none))).toBe(1);
    // Nothing to find, three voxels claimed: sensitivity 0, specificity 5/8.
    const c = confusion(Uint8Array.of(1, 1, 1, 0, 0, 0, 0, 0), none);
    expect(sensitivity(c)).toBe(0);
    expect(specificity(c)).toBe(5 / 8);
  });

  it('gives specificity 1 or 0 when the ground truth fills the volume', () => {
    const full = new Uint8Array(8).fill(1);
    expect(specificity(confusion(full, full))).toBe(1);
    const c = confusion(pred, full);
    expect(specificity(c)).toBe(0);
    expect(sensitivity(c)).toBe(3 / 8);
  });

  it('rejects masks of different lengths', () => {
    expect(() => confusion(new Uint8Array(3), new Uint8Array(4))).toThrow(/differ in length/);
  });
});
