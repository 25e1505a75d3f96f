import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEval } from '../../src/cli/eval-command.js';
import { UsageError } from '../../src/cli/args.js';
import { readNiftiFile, writeNiftiFile } from '../../src/data/nifti-file.node.js';
import type { Volume } from '../../src/data/volume.js';
import { evaluateLesionWise, evaluateRegions } from '../../src/eval/index.js';
import type { CaseMetrics, LesionWiseMetrics } from '../../src/eval/index.js';
import type { NiftiGrid } from '../../src/data/volume.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const brats = resolve(repo, '..', 'shared', 'data', 'brats');
const A = 'Brats18_TCIA01_378_1';
const B = 'Brats18_TCIA10_628_1';
const seg = (id: string) => join(brats, id, `${id}_seg.nii.gz`);
const haveData = existsSync(seg(A)) && existsSync(seg(B));
if (!haveData) console.warn(`eval command tests skipped: BraTS sample cases not found under ${brats}`);

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runEval(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

function expectMetrics(got: CaseMetrics, want: CaseMetrics): void {
  for (const r of ['ET', 'TC', 'WT'] as const) {
    for (const k of ['dice', 'hd95', 'sensitivity', 'specificity'] as const) {
      expect(Math.abs(got[r][k] - want[r][k]), `${r} ${k}: ${got[r][k]} vs ${want[r][k]}`).toBeLessThan(1e-9);
    }
  }
}

/**
 * Reference values from scipy 1.10 / numpy 1.24 (Debian, offline): medpy's surface distances
 * (mask ^ binary_erosion(mask, 6-connected cross), distance_transform_edt with sampling) pooled
 * both ways, np.percentile(…, 95); spacing is pixdim [x, y, z].
 */
const SCIPY = {
  // --pred B's seg --gt A's seg: two different patients.
  crossCase: {
    ET: { dice: 0, hd95: 68.12048069459362, sensitivity: 0, specificity: 0.999777593314293 },
    TC: { dice: 0, hd95: 74.91962358343899, sensitivity: 0, specificity: 0.988101363961667 },
    WT: { dice: 0.0021652603088680145, hd95: 65.81033353509159, sensitivity: 0.002440775305096913, specificity: 0.9821679429897655 },
  },
  // A's seg moved by +2 in x and −1 in z (zero fill), ET with odd y relabelled 1; 1 mm spacing.
  shifted: {
    ET: { dice: 0.5408022130013831, hd95: 3.1622776601683795, sensitivity: 0.4056484149855908, specificity: 0.999538528637956 },
    TC: { dice: 0.8988031045029437, hd95: 2.23606797749979, sensitivity: 0.8988031045029437, specificity: 0.9993547832217036 },
    WT: { dice: 0.8715242881072027, hd95: 2.23606797749979, sensitivity: 0.8715242881072027, specificity: 0.9981702059498128 },
  },
  // The same pair with spacing x 0.5, y 1, z 2 mm.
  shiftedAnisotropic: { ET: 2.5, TC: 2.0, WT: 1.5 },
} satisfies Record<string, unknown>;

/** The perturbation of SCIPY.shifted, on the reader's x-fastest [X, Y, Z] data. */
function shifted(gt: Volume): Float32Array {
  const [X, Y, Z] = gt.dims;
  const out = new Float32Array(gt.data.length);
  for (let z = 0; z < Z - 1; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 2; x < X; x++) {
        let v = gt.data[x - 2 + X * (y + Y * (z + 1))]!;
        if (v === 4 && y % 2 === 1) v = 1;
        out[x + X * (y + Y * z)] = v;
      }
  return out;
}

describe.skipIf(!haveData)('hnfnet eval on BraTS 2018 sample cases', () => {
  let tmp = '';
  let gtA: Volume;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hnfnet-eval-'));
    gtA = await readNiftiFile(seg(A));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('scores a segmentation against itself as perfect in all three regions', async () => {
    const r = await run(['--pred', seg(A), '--gt', seg(A)]);
    expect(r.code).toBe(0);
    const perfect = { dice: 1, hd95: 0, sensitivity: 1, specificity: 1 };
    expect(JSON.parse(r.out)).toEqual({ ET: perfect, TC: perfect, WT: perfect });
  });

  it('matches scipy on two different patients', async () => {
    const r = await run(['--pred', seg(B), '--gt', seg(A)]);
    expect(r.code).toBe(0);
    expectMetrics(JSON.parse(r.out) as CaseMetrics, SCIPY.crossCase);
  });

  it('matches scipy on a shifted, relabelled prediction, isotropic and anisotropic', () => {
    const pred = shifted(gtA);
    const shape = [gtA.dims[2], gtA.dims[1], gtA.dims[0]] as const;
    expectMetrics(evaluateRegions(pred, gtA.data, shape, [1, 1, 1]), SCIPY.shifted);
    const aniso = evaluateRegions(pred, gtA.data, shape, [2, 1, 0.5]);
    expect(aniso.ET.hd95).toBeCloseTo(SCIPY.shiftedAnisotropic.ET, 12);
    expect(aniso.TC.hd95).toBeCloseTo(SCIPY.shiftedAnisotropic.TC, 12);
    expect(aniso.WT.hd95).toBeCloseTo(SCIPY.shiftedAnisotropic.WT, 12);
  });

  it('pairs folders by id, reports strays, and gives mean and median', async () => {
    const predDir = join(tmp, 'pred');
    await writeNiftiFile(join(predDir, `${A}.nii`), shifted(gtA), gtA.grid, { datatype: 'uint8' });
    await copyFile(seg(A), join(predDir, 'stray_seg.nii.gz'));
    await copyFile(seg(A), join(predDir, `${B}_seg.nii.gz`));
    const r = await run(['--pred', predDir, '--gt', brats, '--format', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { cases: Record<string, CaseMetrics>; n: number; mean: CaseMetrics; median: CaseMetrics; unmatched: { pred: string[]; gt: string[] } };
    expect(Object.keys(j.cases)).toEqual([A, B]);
    expectMetrics(j.cases[A]!, SCIPY.shifted);
    expect(j.unmatched).toEqual({ pred: [join(predDir, 'stray_seg.nii.gz')], gt: [] });
    expect(r.err).toContain('1 prediction(s) without a ground truth');
    expect(j.n).toBe(2);
    // B is A's seg scored against B: a real miss, so mean and median are (shifted + miss) / 2.
    expect(j.mean.WT.dice).toBeCloseTo((SCIPY.shifted.WT.dice + j.cases[B]!.WT.dice) / 2, 12);
    expect(j.median.ET.hd95).toBeCloseTo((SCIPY.shifted.ET.hd95 + j.cases[B]!.ET.hd95) / 2, 12);

    const csv = await run(['--pred', predDir, '--gt', brats, '--out', join(tmp, 'r.csv')]);
    expect(csv.code).toBe(0);
    expect(csv.out).toBe('');
    const { readFile } = await import('node:fs/promises');
    const lines = (await readFile(join(tmp, 'r.csv'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => l.split(',')[0])).toEqual(['case', A, B, 'mean', 'median']);
    expect(Number(lines[1]!.split(',')[1])).toBeCloseTo(SCIPY.shifted.ET.dice, 15);

    const table = await run(['--pred', predDir, '--gt', brats]);
    expect(table.out.split('\n')[0]).toMatch(/^case\s+ET Dice\s+ET HD95/);
  });

  it('refuses a prediction on another grid, naming both files and shapes', async () => {
    const small = join(tmp, 'small.nii');
    await writeNiftiFile(small, new Uint8Array(4 * 5 * 6), { ...gtA.grid, dims: [4, 5, 6] }, { datatype: 'uint8' });
    await expect(run(['--pred', small, '--gt', seg(A)])).rejects.toThrow(
      `prediction ${small} has shape [4, 5, 6] but ground truth ${seg(A)} has shape [240, 240, 155]`,
    );
  });

  it('warns when the labels look like the other BraTS labelling', async () => {
    const r = await run(['--pred', seg(A), '--gt', seg(A), '--et-label', '3']);
    expect(r.err).toContain('labels [4] belong to no region with ET = 3 (BraTS 2018-2021 labels? pass --et-label 4)');
  });
});

describe('hnfnet eval --metrics on small BraTS 2023-named volumes', () => {
  // [d, h, w] = [z, y, x] = [10, 12, 20]; voxels 1 × 1 × 1.25 mm (x, y, z) in both headers.
  const dims: [number, number, number] = [20, 12, 10];
  const grid = (sz: number): NiftiGrid => ({
    dims,
    pixdim: [1, 1, 1, sz, 0, 0, 0, 0],
    xyztUnits: 2,
    qformCode: 0,
    sformCode: 1,
    quatern: [0, 0, 0],
    qoffset: [0, 0, 0],
    srow: [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, sz, 0],
    ],
  });
  const paint = (boxes: [number, number, number, number, number, number, number][]) => {
    const v = new Uint8Array(20 * 12 * 10);
    for (const [d0, h0, w0, d1, h1, w1, label] of boxes)
      for (let d = d0; d < d1; d++) for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) v[(d * 12 + h) * 20 + w] = label;
    return v;
  };
  // A glioma with ET = 3 (BraTS 2023 labels) and a far false lesion of ED in the prediction.
  const gt = paint([[1, 1, 1, 7, 8, 9, 2], [2, 2, 2, 6, 6, 7, 3]]); // ET: 80 voxels, 100 mm³
  const pred = paint([[1, 1, 2, 7, 8, 10, 2], [2, 2, 2, 6, 6, 5, 3], [7, 9, 16, 10, 12, 20, 2]]);
  let tmp = '';
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hnfnet-eval-lw-'));
    await writeNiftiFile(join(tmp, 'gt', 'BraTS-GLI-00001-000-seg.nii.gz'), gt, grid(1.25), { datatype: 'uint8' });
    await writeNiftiFile(join(tmp, 'pred', 'BraTS-GLI-00001-000.nii.gz'), pred, grid(1.25), { datatype: 'uint8' });
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });
  const want = () => evaluateLesionWise(pred, gt, [10, 12, 20], [1.25, 1, 1], { etLabel: 3 });

  it('gives legacy and lesion-wise metrics by default for BraTS 2023 names, with ET = 3', async () => {
    const r = await run(['--pred', join(tmp, 'pred', 'BraTS-GLI-00001-000.nii.gz'), '--gt', join(tmp, 'gt', 'BraTS-GLI-00001-000-seg.nii.gz')]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as Record<'ET' | 'TC' | 'WT', { dice: number; lesionwise: LesionWiseMetrics }>;
    const w = want();
    expect(j.WT.lesionwise).toEqual(JSON.parse(JSON.stringify(w.WT)));
    expect([j.WT.lesionwise.tp, j.WT.lesionwise.fn, j.WT.lesionwise.fp]).toEqual([1, 0, 1]);
    expect(j.ET.lesionwise.tp).toBe(1); // ET = 3 was read as ET
    expect(j.ET.dice).toBe(evaluateRegions(pred, gt, [10, 12, 20], [1.25, 1, 1], { etLabel: 3 }).ET.dice);
  });

  it('prints lesion-wise columns with the counts, per case and in total, for folders', async () => {
    const r = await run(['--pred', join(tmp, 'pred'), '--gt', join(tmp, 'gt'), '--metrics', 'lesionwise', '--format', 'csv']);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'case,ET_lesionwise_dice,ET_lesionwise_hd95,ET_tp,ET_fn,ET_fp,TC_lesionwise_dice,TC_lesionwise_hd95,TC_tp,TC_fn,TC_fp,WT_lesionwise_dice,WT_lesionwise_hd95,WT_tp,WT_fn,WT_fp',
    );
    const w = want();
    expect(lines[1]!.split(',').slice(11)).toEqual([w.WT.dice, w.WT.hd95, 1, 0, 1].map(String));
    expect(lines.map((l) => l.split(',')[0])).toEqual(['case', 'BraTS-GLI-00001-000', 'mean', 'median', 'total']);
    expect(lines[4]!.split(',').slice(13)).toEqual(['1', '0', '1']);
    const legacy = await run(['--pred', join(tmp, 'pred'), '--gt', join(tmp, 'gt'), '--metrics', 'legacy', '--format', 'csv']);
    expect(legacy.out.split('\n')[0]).not.toContain('lesionwise');
  });
});

describe('hnfnet eval usage', () => {
  it('rejects missing, unknown and mixed arguments', async () => {
    await expect(run(['--pred', 'x.nii.gz'])).rejects.toThrow(UsageError);
    await expect(run(['--pred', 'a', '--gt', 'b', '--bogus', '1'])).rejects.toThrow(/unknown option --bogus/);
    await expect(run(['--pred', 'a', '--gt', 'b', '--format', 'xml'])).rejects.toThrow(/--format must be one of table, csv, json/);
    await expect(run(['--pred', 'a', '--gt', 'b', '--metrics', 'all'])).rejects.toThrow(/--metrics must be one of legacy, lesionwise, both, got "all"/);
    await expect(run(['--pred', 'a', '--gt', 'b', '--et-label', '2'])).rejects.toThrow(/--et-label/);
    await expect(run(['--pred', '/nonexistent/p.nii.gz', '--gt', repo])).rejects.toThrow(/--pred \/nonexistent\/p.nii.gz: no such file or folder/);
    await expect(run(['--pred', join(repo, 'package.json'), '--gt', repo])).rejects.toThrow(/both be files or both be folders/);
  });
});
