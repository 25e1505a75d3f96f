import { describe, expect, it } from 'vitest';
import { aggregateLesionWise, caseId, formatReport, isSegName, matchCases, selectSegmentations } from '../../src/eval/index.js';
import type { CaseMetrics, EvaluationReport, LesionWiseCase } from '../../src/eval/index.js';

describe('case ids', () => {
  it('strips the NIfTI extension and the seg suffix of both BraTS namings', () => {
    expect(caseId('/d/Brats18_TCIA01_378_1/Brats18_TCIA01_378_1_seg.nii.gz')).toBe('Brats18_TCIA01_378_1');
    expect(caseId('BraTS-GLI-00000-000-seg.nii')).toBe('BraTS-GLI-00000-000');
    expect(caseId('C:\\preds\\BraTS2021_00001.nii.gz')).toBe('BraTS2021_00001');
    expect(caseId('x_SEG.NII.GZ')).toBe('x');
    expect(isSegName('a/BraTS2021_00001_t1ce.nii.gz')).toBe(false);
  });

  it('keeps only the seg of a BraTS case folder and every NIfTI of a prediction folder', () => {
    const caseDir = ['c/c_t1.nii.gz', 'c/c_flair.nii.gz', 'c/c_seg.nii.gz', 'c/c_brainmask.nii.gz', 'c/facts.json'];
    expect(selectSegmentations(caseDir)).toEqual(['c/c_seg.nii.gz']);
    const case23 = ['d/BraTS-GLI-1-000-t1n.nii.gz', 'd/BraTS-GLI-1-000-t2f.nii.gz', 'd/BraTS-GLI-1-000-seg.nii.gz'];
    expect(selectSegmentations(case23)).toEqual(['d/BraTS-GLI-1-000-seg.nii.gz']);
    expect(selectSegmentations(['p/a.nii.gz', 'p/b_seg.nii', 'p/notes.txt'])).toEqual(['p/a.nii.gz', 'p/b_seg.nii']);
  });
});

describe('matchCases', () => {
  it('pairs by id and reports the unmatched and the ambiguous', () => {
    const m = matchCases(
      ['p/B.nii.gz', 'p/A_seg.nii.gz', 'p/extra.nii.gz', 'p/D.nii.gz', 'p/sub/D.nii.gz'],
      ['g/A/A_seg.nii.gz', 'g/B/B_seg.nii.gz', 'g/C/C_seg.nii.gz', 'g/D/D_seg.nii.gz'],
    );
    expect(m.pairs).toEqual([
      { id: 'A', pred: 'p/A_seg.nii.gz', gt: 'g/A/A_seg.nii.gz' },
      { id: 'B', pred: 'p/B.nii.gz', gt: 'g/B/B_seg.nii.gz' },
    ]);
    expect(m.predOnly).toEqual(['p/extra.nii.gz']);
    expect(m.gtOnly).toEqual(['g/C/C_seg.nii.gz']);
    expect(m.duplicates).toEqual([{ side: 'pred', id: 'D', paths: ['p/D.nii.gz', 'p/sub/D.nii.gz'] }]);
  });
});

describe('formatReport', () => {
  const m = (d: number): CaseMetrics => ({
    ET: { dice: d, hd95: 373.13, sensitivity: 0.5, specificity: 1 },
    TC: { dice: 1, hd95: 0, sensitivity: 1, specificity: 1 },
    WT: { dice: 0.25, hd95: 2.5, sensitivity: 0.75, specificity: 0.999 },
  });
  const report: EvaluationReport = {
    cases: [
      { id: 'A', metrics: m(0.5) },
      { id: 'B,2', metrics: m(1) },
    ],
    summary: { n: 2, mean: m(0.75), median: m(0.75) },
    unmatched: { pred: [], gt: ['g/C_seg.nii.gz'] },
  };

  it('writes CSV with full precision, mean and median rows', () => {
    const lines = formatReport(report, 'csv').trimEnd().split('\n');
    expect(lines[0]).toBe(
      'case,ET_dice,ET_hd95,ET_sensitivity,ET_specificity,TC_dice,TC_hd95,TC_sensitivity,TC_specificity,WT_dice,WT_hd95,WT_sensitivity,WT_specificity',
    );
    expect(lines[1]).toBe('A,0.5,373.13,0.5,1,1,0,1,1,0.25,2.5,0.75,0.999');
    expect(lines[2]!.startsWith('"B,2",1,')).toBe(true);
    expect(lines[3]!.startsWith('mean,0.75,')).toBe(true);
    expect(lines[4]!.startsWith('median,0.75,')).toBe(true);
    expect(lines).toHaveLength(5);
  });

  it('writes JSON keyed by case with the summary and unmatched files', () => {
    const j = JSON.parse(formatReport(report, 'json')) as Record<string, unknown>;
    expect(j).toEqual({
      cases: { A: m(0.5), 'B,2': m(1) },
      n: 2,
      mean: m(0.75),
      median: m(0.75),
      unmatched: { pred: [], gt: ['g/C_seg.nii.gz'] },
    });
  });

  it('writes an aligned table', () => {
    const lines = formatReport(report, 'table').trimEnd().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual([
      'case', 'ET Dice', 'ET HD95', 'ET Sens', 'ET Spec', 'TC Dice', 'TC HD95', 'TC Sens', 'TC Spec', 'WT Dice', 'WT HD95', 'WT Sens', 'WT Spec',
    ]);
    expect(lines[2]!.split(/\s+/)).toEqual(['A', '0.5000', '373.13', '0.5000', '1.0000', '1.0000', '0.00', '1.0000', '1.0000', '0.2500', '2.50', '0.7500', '0.9990']);
    expect(lines[5]!.startsWith('mean (n=2)')).toBe(true);
    expect(lines[6]!.startsWith('median')).toBe(true);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });

  it('adds lesion-wise columns, counts and a total row when cases have them', () => {
    const lw = (dice: number, fp: number): LesionWiseCase => {
      const r = { dice, hd95: 374 * (1 - dice), tp: 1, fn: 0, fp, lesions: [] };
      return { ET: r, TC: r, WT: r };
    };
    const withLw: EvaluationReport = {
      cases: [
        { id: 'A', metrics: m(0.5), lesionwise: lw(0.5, 1) },
        { id: 'B', metrics: m(1), lesionwise: lw(1, 0) },
      ],
      summary: { n: 2, mean: m(0.75), median: m(0.75) },
      lesionwiseSummary: aggregateLesionWise([lw(0.5, 1), lw(1, 0)]),
    };
    const lines = formatReport(withLw, 'table').trimEnd().split('\n');
    const header = lines[0]!.split(/\s{2,}/);
    expect(header.slice(13, 18)).toEqual(['ET LW Dice', 'ET LW HD95', 'ET TP', 'ET FN', 'ET FP']);
    expect(lines[2]!.split(/\s+/).slice(13, 18)).toEqual(['0.5000', '187.00', '1', '0', '1']);
    expect(lines[5]!.split(/\s+/).slice(14, 16)).toEqual(['0.7500', '93.50']); // "mean (n=2)" is two words, then 12 legacy cells
    expect(lines[7]!.split(/\s+/)).toEqual(['total', '2', '0', '1', '2', '0', '1', '2', '0', '1']);
    const j = JSON.parse(formatReport(withLw, 'json')) as { cases: Record<string, Record<string, Record<string, unknown>>>; lesionwise: { total: unknown } };
    expect(j.cases.A!.ET).toEqual({ ...m(0.5).ET, lesionwise: lw(0.5, 1).ET });
    expect(j.lesionwise.total).toEqual({ ET: { tp: 2, fn: 0, fp: 1 }, TC: { tp: 2, fn: 0, fp: 1 }, WT: { tp: 2, fn: 0, fp: 1 } });
  });
});
