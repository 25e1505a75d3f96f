import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connectedComponents, dilate } from '../../src/eval/components.js';
import { evaluateLesionWise, lesionWiseMask } from '../../src/eval/lesion-wise.js';
import type { LesionWiseCase, LesionWiseMetrics } from '../../src/eval/lesion-wise.js';
import { numpySum, surfelDistances, surfelHd95 } from '../../src/eval/surfel-distances.js';
import { surfelAreas } from '../../src/eval/surfels.js';
import type { Shape3, Spacing3 } from '../../src/eval/masks.js';
import { readNiftiFile } from '../../src/data/nifti-file.node.js';
import { box } from './reference.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '..', '..');

type Prim = { box: [[number, number, number], [number, number, number]]; label: number } | { ball: [[number, number, number], number]; label: number };
interface Side {
  paint?: Prim[];
  file?: string;
  shift?: [number, number, number];
}
interface Spec {
  name: string;
  shape?: Shape3;
  spacing?: Spacing3;
  etLabel?: number;
  gt: Side;
  pred: Side;
}
interface RefLesion {
  voxels: number;
  volume: number;
  matched: number;
  dice: number;
  hd95: number;
}
type RefRegion = Omit<LesionWiseMetrics, 'lesions'> & { lesions: RefLesion[] };

const cases = JSON.parse(readFileSync(join(here, 'fixtures', 'lesion-wise-cases.json'), 'utf8')) as { dataRoot: string; cases: Spec[]; realCases: Spec[] };
const reference = JSON.parse(readFileSync(join(here, 'fixtures', 'lesion-wise-reference.json'), 'utf8')) as { cases: Record<string, Record<'ET' | 'TC' | 'WT', RefRegion>> };
const dataRoot = resolve(repo, cases.dataRoot);

/** Primitives in [d, h, w], painted in order: what test/eval/lesion_wise_reference.py does. */
function paint(vol: Float32Array, shape: Shape3, prims: readonly Prim[]): void {
  const [D, H, W] = shape;
  for (const p of prims) {
    if ('box' in p) {
      const [lo, hi] = p.box;
      for (let d = lo[0]; d < Math.min(hi[0], D); d++)
        for (let h = lo[1]; h < Math.min(hi[1], H); h++) for (let w = lo[2]; w < Math.min(hi[2], W); w++) vol[(d * H + h) * W + w] = p.label;
    } else {
      const [[cd, ch, cw], r] = p.ball;
      for (let d = 0; d < D; d++)
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) if ((d - cd) ** 2 + (h - ch) ** 2 + (w - cw) ** 2 <= r * r) vol[(d * H + h) * W + w] = p.label;
    }
  }
}

/** Real files: the label map moved by shift [dz, dy, dx] (zero fill), then painted. */
async function buildSide(s: Side, shape: Shape3 | undefined): Promise<{ data: Float32Array; shape: Shape3; spacing: Spacing3 | null }> {
  if (s.file === undefined) {
    const data = new Float32Array(shape![0] * shape![1] * shape![2]);
    paint(data, shape!, s.paint ?? []);
    return { data, shape: shape!, spacing: null };
  }
  const v = await readNiftiFile(join(dataRoot, s.file));
  const sh: Shape3 = [v.dims[2], v.dims[1], v.dims[0]];
  let data = v.data;
  if (s.shift) {
    const [D, H, W] = sh;
    const [sd, shh, sw] = s.shift;
    const out = new Float32Array(data.length);
    for (let d = 0; d < D; d++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const [td, th, tw] = [d + sd, h + shh, w + sw];
          if (td < 0 || td >= D || th < 0 || th >= H || tw < 0 || tw >= W) continue;
          out[(td * H + th) * W + tw] = data[(d * H + h) * W + w]!;
        }
    data = out;
  }
  paint(data, sh, s.paint ?? []);
  return { data, shape: sh, spacing: [v.spacing[2], v.spacing[1], v.spacing[0]].map(Math.abs) as unknown as Spacing3 };
}

async function score(c: Spec): Promise<LesionWiseCase> {
  const gt = await buildSide(c.gt, c.shape);
  const pred = await buildSide(c.pred, c.shape);
  const spacing = c.spacing ?? pred.spacing ?? gt.spacing!;
  return evaluateLesionWise(pred.data, gt.data, gt.shape, spacing, { etLabel: c.etLabel ?? 4 });
}

function expectReference(name: string, got: LesionWiseCase): void {
  const want = reference.cases[name];
  expect(want, `reference for ${name}`).toBeDefined();
  for (const r of ['ET', 'TC', 'WT'] as const) {
    const g = got[r];
    const w = want![r];
    const what = `${name} ${r}`;
    expect([g.tp, g.fn, g.fp], `${what} TP, FN, FP`).toEqual([w.tp, w.fn, w.fp]);
    expect(Math.abs(g.dice - w.dice), `${what} Dice ${g.dice} vs ${w.dice}`).toBeLessThan(1e-12);
    expect(Math.abs(g.hd95 - w.hd95), `${what} HD95 ${g.hd95} vs ${w.hd95}`).toBeLessThan(1e-9);
    // Lesions are numbered in raster order, which differs between [z, y, x] and (x, y, z) arrays.
    const key = (l: { voxels: number; dice: number; hd95: number }) => [l.voxels, l.dice, l.hd95] as const;
    const byKey = <T extends { voxels: number; dice: number; hd95: number }>(ls: readonly T[]) =>
      [...ls].sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1] || key(a)[2] - key(b)[2]);
    const gl = byKey(g.lesions);
    const wl = byKey(w.lesions);
    expect(gl.map((l) => [l.voxels, l.matched.length]), `${what} lesions`).toEqual(wl.map((l) => [l.voxels, l.matched]));
    for (const [k, l] of gl.entries()) {
      expect(l.volume).toBeCloseTo(wl[k]!.volume, 9);
      expect(Math.abs(l.dice - wl[k]!.dice)).toBeLessThan(1e-12);
      expect(Math.abs(l.hd95 - wl[k]!.hd95), `${what} lesion ${k} HD95`).toBeLessThan(1e-9);
    }
  }
}

const S: Shape3 = [16, 20, 24];
const ISO: Spacing3 = [1, 1, 1];

describe('connected components and dilation', () => {
  it('joins voxels touching at a corner with 26-connectivity only', () => {
    const m = new Uint8Array(27);
    m[0] = 1; // (0, 0, 0)
    m[13] = 1; // (1, 1, 1)
    m[26] = 1; // (2, 2, 2)
    expect(connectedComponents(m, [3, 3, 3], 26).count).toBe(1);
    const six = connectedComponents(m, [3, 3, 3], 6);
    expect(six.count).toBe(3);
    expect([...six.sizes]).toEqual([0, 1, 1, 1]);
    expect([six.labels[0], six.labels[13], six.labels[26]]).toEqual([1, 2, 3]);
  });

  it('grows a voxel by the 18-neighbourhood: 19 voxels after one pass, 93 after two, clipped at the border', () => {
    const m = new Uint8Array(7 * 7 * 7);
    m[(3 * 7 + 3) * 7 + 3] = 1;
    const count = (x: Uint8Array) => x.reduce((s, v) => s + v, 0);
    expect(count(dilate(m, [7, 7, 7], 1))).toBe(19);
    // 5×5×5 minus the 8 corners (2,2,2) and the 24 points like (2,2,1), which need 5 unit steps.
    expect(count(dilate(m, [7, 7, 7], 2))).toBe(93);
    const corner = new Uint8Array(27);
    corner[0] = 1;
    expect(count(dilate(corner, [3, 3, 3], 1))).toBe(7); // the 2×2×2 block less its far corner
  });
});

describe('surface-distance HD95', () => {
  it('weights a single voxel by its eight corner triangles, √3 mm² in all', () => {
    const one = box([3, 3, 3], [1, 1, 1], [2, 2, 2]);
    const sd = surfelDistances(one, one, [3, 3, 3], ISO);
    expect(sd.aToB.areas.length).toBe(8);
    expect(numpySum(sd.aToB.areas)).toBeCloseTo(Math.sqrt(3), 14);
    expect(surfelHd95(one, one, [3, 3, 3], ISO)).toBe(0);
  });

  it('gives the shift of one voxel along x in its spacing, and ∞ against nothing', () => {
    const a = box([1, 1, 3], [0, 0, 0], [1, 1, 1]);
    const b = box([1, 1, 3], [0, 0, 1], [1, 1, 2]);
    // Corners at x = 0 lie 1 voxel from b's surface, those at x = 1 on it: the 95th percentile is 1 voxel.
    expect(surfelHd95(a, b, [1, 1, 3], [1, 1, 0.5])).toBe(0.5);
    expect(surfelHd95(a, b, [1, 1, 3], [3, 2, 1.5])).toBe(1.5);
    expect(surfelHd95(a, new Uint8Array(3), [1, 1, 3], ISO)).toBe(Infinity);
  });

  it('scales a triangle area by the cofactors of the spacing', () => {
    // Code 15 is a whole face normal to x: 1 mm² at 1 mm, sy·sz under spacing.
    expect(surfelAreas([1, 1, 1])[15]).toBe(1);
    expect(surfelAreas([3, 2, 0.5])[15]).toBe(6);
    expect(surfelAreas([3, 2, 0.5])[85]).toBeCloseTo(1, 15); // normal to z: sx·sy
    expect(surfelAreas([1, 1, 1])[1]).toBeCloseTo(Math.sqrt(3) / 8, 15);
  });

  it("sums as numpy's pairwise summation does", () => {
    const v = Array.from({ length: 300 }, (_, i) => 0.1 * ((i * 7919) % 13) + 1e-3 * i);
    let seq = 0;
    for (const x of v) seq += x;
    // Same value to rounding, but computed in numpy's order (blocks of 8 accumulators).
    expect(numpySum(v)).toBeCloseTo(seq, 10);
    expect(numpySum([1, 2, 3])).toBe(6);
  });
});

describe('lesion-wise Dice and HD95, hand-computed', () => {
  const cubeA = () => box(S, [1, 1, 1], [5, 5, 5]); // 64 voxels
  const cubeB = () => box(S, [9, 12, 16], [13, 16, 20]); // 11 voxels beyond A along w: a lesion of its own
  const or = (...ms: Uint8Array[]) => ms.reduce((o, m) => o.map((v, i) => v | m[i]!));

  it('two lesions, one found, one missed, one false positive', () => {
    const gt = or(cubeA(), cubeB());
    const fp = box(S, [8, 1, 1], [9, 2, 2]);
    const r = lesionWiseMask(or(cubeA(), fp), gt, S, ISO);
    expect([r.tp, r.fn, r.fp]).toEqual([1, 1, 1]);
    expect(r.lesions.map((l) => [l.dice, l.hd95])).toEqual([
      [1, 0],
      [0, 374],
    ]);
    expect(r.dice).toBeCloseTo(1 / 3, 15);
    expect(r.hd95).toBeCloseTo((0 + 374 + 374) / 3, 12);
  });

  it('half an overlap gives Dice 0.5; the prediction is scored whole, beyond the dilation', () => {
    const pred = box(S, [1, 1, 3], [5, 5, 7]);
    const r = lesionWiseMask(pred, cubeA(), S, ISO);
    expect(r.dice).toBe(0.5);
    expect([r.tp, r.fn, r.fp]).toEqual([1, 0, 0]);
    const long = box(S, [1, 1, 1], [5, 5, 16]); // 240 voxels, reaching far past the lesion's dilation
    expect(lesionWiseMask(long, cubeA(), S, ISO).dice).toBe((2 * 64) / (240 + 64));
  });

  it('leaves out lesions of at most 50 mm³ by the voxel volume, and their matches are no false positives', () => {
    const gt = or(cubeA(), box(S, [12, 15, 2], [14, 20, 7])); // 64 and 50 voxels, 7 apart along d
    const r = lesionWiseMask(cubeA(), gt, S, ISO);
    expect(r.lesions.map((l) => [l.voxels, l.counted])).toEqual([
      [64, true],
      [50, false],
    ]);
    expect([r.dice, r.hd95, r.tp, r.fn, r.fp]).toEqual([1, 0, 1, 0, 0]);
    // Voxels of 0.75 mm³: the 64-voxel lesion is 48 mm³, so nothing is counted: Dice 1, HD95 0.
    const small = lesionWiseMask(new Uint8Array(gt.length), gt, S, [1, 1, 0.75]);
    expect([small.dice, small.hd95, small.tp, small.fn, small.fp]).toEqual([1, 0, 0, 0, 0]);
    // A prediction on the small lesion only: matched, so neither TP nor FP.
    const onSmall = lesionWiseMask(box(S, [12, 15, 2], [13, 16, 3]), gt, S, ISO);
    expect([onSmall.tp, onSmall.fn, onSmall.fp]).toEqual([0, 1, 0]);
  });

  it('both empty scores 1 and 0; a prediction without ground truth 0 and 374', () => {
    const none = new Uint8Array(S[0] * S[1] * S[2]);
    expect(lesionWiseMask(none, none, S, ISO)).toEqual({ dice: 1, hd95: 0, tp: 0, fn: 0, fp: 0, lesions: [] });
    const r = lesionWiseMask(cubeA(), none, S, ISO);
    expect([r.dice, r.hd95, r.fp]).toEqual([0, 374, 1]);
  });

  it('merges GT pieces up to 6 voxels apart and matches predictions within the 3-fold dilation', () => {
    const near = or(box(S, [1, 1, 0], [5, 5, 4]), box(S, [1, 1, 10], [5, 5, 14])); // gap of 6
    expect(lesionWiseMask(near, near, S, ISO).lesions.length).toBe(1);
    const far = or(box(S, [1, 1, 0], [5, 5, 4]), box(S, [1, 1, 11], [5, 5, 15])); // gap of 7
    expect(lesionWiseMask(far, far, S, ISO).lesions.length).toBe(2);
    // A voxel at offset (2, 2, 2) from the lesion's corner is reached by 3 18-neighbourhood steps; (3, 3, 3) is not.
    const lesion = box(S, [1, 1, 1], [5, 5, 5]);
    expect(lesionWiseMask(box(S, [6, 6, 6], [7, 7, 7]), lesion, S, ISO).fp).toBe(0);
    expect(lesionWiseMask(box(S, [7, 7, 7], [8, 8, 8]), lesion, S, ISO).fp).toBe(1);
  });

  it('rejects masks that do not fit the shape', () => {
    expect(() => lesionWiseMask(new Uint8Array(5), new Uint8Array(S[0] * S[1] * S[2]), S, ISO)).toThrow(/lesion-wise \(prediction\): shape \[16, 20, 24\] holds 7680 voxels but the array has 5/);
  });
});

describe('lesion-wise against the independent scipy reference', () => {
  for (const c of cases.cases) {
    it(c.name, async () => expectReference(c.name, await score(c)));
  }

  const haveData = cases.realCases.every((c) => [c.gt.file, c.pred.file].every((f) => f === undefined || existsSync(join(dataRoot, f))));
  it.skipIf(!haveData)('real BraTS 2018 cases: a shifted, edited prediction and another patient', async () => {
    for (const c of cases.realCases) expectReference(c.name, await score(c));
  }, 120_000);
});
