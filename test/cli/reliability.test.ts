/**
 * Nothing lost, nothing silent (issue 18): outputs never replace inputs, bad output locations and
 * nonsensical values are refused before any long work, damaged weights are refused, incomplete
 * outputs are not taken for done ones. On a 24³ phantom case and the tiny model.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkKnown, parseArgs, UsageError } from '../../src/cli/args.js';
import { command as infer } from '../../src/cli/infer-command.js';
import { runEval } from '../../src/cli/eval-command.js';
import { runTraining } from '../../src/train/run.node.js';
import { readNiftiFile, writeNiftiFile, writePhantomCase, writeSegmentation } from '../../src/data/index.node.js';
import { gridFromAffine, identityAffine } from '../../src/data/affine.js';
import { buildModel } from '../../src/hnfnet/build.js';
import { presetConfig } from '../../src/hnfnet/config.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { loadModelFromWeights, saveWeights } from '../../src/hnfnet/weights.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/nn/safetensors.js';
import { parseLog } from '../../src/train/run-log.node.js';
import { runCurves } from '../../src/train/run-curves.node.js';
import { nodeGunzip } from '../../src/data/nifti-file.node.js';
import { readNifti } from '../../src/data/nifti-read.js';
import { buildNifti, REPO_ROOT } from '../data/helpers.js';
import { getDevice } from '../helpers.js';

// A hang (the old /proc behaviour) ends at the timeout with status null, which fails the test.
const cli = (args: string[], timeout = 240_000) => spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout });

let dir: string;
let caseDir: string;
let weights: string;
let weightBytes: Uint8Array;
const id = 'phantom-1';

beforeAll(async () => {
  await getDevice();
  dir = mkdtempSync(join(tmpdir(), 'hnfnet-reliability-'));
  caseDir = await writePhantomCase(join(dir, 'data'), { size: 24, seed: 1 });
  weights = join(dir, 'tiny.safetensors');
  const model = buildModel('tiny', { seed: 3 });
  weightBytes = await saveWeights(model, presetConfig('tiny'), 'tiny');
  model.dispose();
  writeFileSync(weights, weightBytes);
});

/** The weights with one value of `name` replaced. */
function damaged(name: string, value: number): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(weightBytes);
  const t = tensors.get(name)!;
  new DataView(t.bytes.buffer, t.bytes.byteOffset).setFloat32(4 * 3, value, true);
  return encodeSafetensors(tensors, metadata);
}

describe('infer never writes over its inputs', () => {
  it('--out onto the case’s own ground truth (also spelled another way) is refused and the file is untouched', () => {
    const gt = join(caseDir, `${id}_seg.nii.gz`);
    const before = readFileSync(gt);
    const r = cli(['infer', '--model', weights, '--case', caseDir, '--out', gt, '--tta', '1', '--window', '16']);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`the output ${gt} is the input ${gt}; writing it would destroy that input`);
    expect(readFileSync(gt).equals(before)).toBe(true);
  }, 120_000);

  it('nor onto an image of a case given as files, through another spelling of its path', async () => {
    const t1 = join(caseDir, `${id}_t1.nii.gz`);
    const files = ['t1', 't1ce', 't2', 'flair'].map((m) => join(caseDir, `${id}_${m}.nii.gz`));
    const other = join(caseDir, '..', 'phantom-1', '.', `${id}_t1.nii.gz`);
    await expect(infer.run(['--model', weights, ...files.flatMap((f) => ['--case', f]), '--out', other])).rejects.toThrow(`the output ${other} is the input ${t1}`);
  });
});

describe('output locations are checked first', () => {
  it('infer --out under /proc fails at once with the folder named, before the device or the case is read', () => {
    const r = cli(['infer', '--model', weights, '--case', caseDir, '--out', '/proc/hnfnet-none/x/seg.nii.gz', '--tta', '1'], 60_000);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\/proc\/hnfnet-none: cannot create the folder \(ENOENT/);
    expect(r.stderr).not.toMatch(/case phantom-1:|windows/);
  }, 120_000);

  it('train and start under /proc fail at once too', async () => {
    const r = cli(['start', '--quick', '--out', '/proc/hnfnet-none/start'], 60_000);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\/proc\/hnfnet-none: cannot create the folder/);
    const config = resolveTrainConfig({ model: 'tiny', data: { source: 'phantom:2' } });
    await expect(runTraining({ out: '/proc/hnfnet-none/run', config, stream: { write: () => true } })).rejects.toThrow(/\/proc\/hnfnet-none: cannot create the folder/);
  }, 120_000);

  it('an --out that is a folder or not a NIfTI name is refused before the work', async () => {
    const folder = join(dir, 'a-folder.nii.gz');
    mkdirSync(folder, { recursive: true });
    await expect(infer.run(['--model', weights, '--case', caseDir, '--out', folder])).rejects.toThrow(`${folder}: --out is a folder; a file name is needed here`);
    await expect(infer.run(['--model', weights, '--case', caseDir, '--out', join(dir, 'seg.png')])).rejects.toThrow(/--out .*seg\.png: the segmentation's name must end in \.nii\.gz or \.nii/);
  });
});

describe('every value is checked where it is parsed, naming the flag and the range', () => {
  it('--threshold 2 and -1 exit 2 from the CLI', () => {
    for (const t of ['2', '-1']) {
      const r = cli(['infer', '--model', weights, '--case', caseDir, '--out', join(dir, 't.nii.gz'), '--threshold', t]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`option --threshold must be > 0 and < 1, got ${t}`);
    }
  }, 120_000);

  it('window, batch, overlap, min-et, threshold bounds; unknown flags named; a repeated --out refused', async () => {
    const base = ['--model', weights, '--case', caseDir, '--out', join(dir, 'v.nii.gz')];
    const cases: [string[], RegExp][] = [
      [['--threshold', '0'], /--threshold must be > 0 and < 1, got 0/],
      [['--threshold', '1'], /--threshold must be > 0 and < 1, got 1/],
      [['--window', '0'], /--window must be an integer from 8 to 512, got 0/],
      [['--window', '-1'], /--window must be an integer from 8 to 512, got -1/],
      [['--window', '100000'], /--window must be an integer from 8 to 512, got 100000/],
      [['--window', '12.5'], /--window must be an integer/],
      [['--batch', '0'], /--batch must be an integer from 1 to 64, got 0/],
      [['--overlap', '1'], /--overlap must be ≥ 0 and < 1, got 1/],
      [['--min-et', '-5'], /--min-et must be an integer ≥ 0, got -5/],
      [['--bogus'], /unknown option --bogus/],
      [['--out', join(dir, 'w.nii.gz')], /option --out is given 2 times/],
    ];
    for (const [extra, want] of cases) await expect(infer.run([...base, ...extra]), extra.join(' ')).rejects.toThrow(want);
    for (const [extra] of cases) await expect(infer.run([...base, ...extra])).rejects.toBeInstanceOf(UsageError);
  });

  it('an unknown flag before another flag is reported as unknown, a known one without a value as needing one', () => {
    const a = parseArgs(['--bogus', '--out', 'x']);
    expect(() => checkKnown(a, ['out'], 'infer')).toThrow('hnfnet infer: unknown option --bogus');
    expect(() => checkKnown(parseArgs(['--out']), ['out'], 'infer')).toThrow('hnfnet infer: option --out needs a value');
  });
});

describe('damaged or wrong weights files are refused at load', () => {
  it('a NaN or an Inf in a weight is named with the tensor, in the library and the CLI', async () => {
    const device = await getDevice();
    const name = [...decodeSafetensors(weightBytes).tensors.keys()][0]!;
    expect(() => loadModelFromWeights(damaged(name, NaN), 'nan.safetensors', { device })).toThrow(`${name}: 1 non-finite value (first NaN at index 3)`);
    expect(() => loadModelFromWeights(damaged(name, -Infinity), 'inf.safetensors', { device })).toThrow(`${name}: 1 non-finite value (first -Infinity at index 3)`);
    const nan = join(dir, 'nan.safetensors');
    writeFileSync(nan, damaged(name, NaN));
    const r = cli(['infer', '--model', nan, '--case', caseDir, '--out', join(dir, 'nan-seg.nii.gz'), '--tta', '1', '--window', '16']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${nan} does not fit the model`);
    expect(r.stderr).toContain(`${name}: 1 non-finite value`);
  }, 120_000);

  it('a folder as --model is named; a training state as --model says where the weights are', async () => {
    await expect(infer.run(['--model', dir, '--case', caseDir, '--out', join(dir, 'f.nii.gz')])).rejects.toThrow(`${dir}: cannot read the weights file (EISDIR, it is a folder)`);
    const state = join(dir, 'last.train.safetensors');
    writeFileSync(state, encodeSafetensors(new Map(), { format: 'hnfnet-adam' }));
    await expect(infer.run(['--model', state, '--case', caseDir, '--out', join(dir, 'f.nii.gz')])).rejects.toThrow(/is a training state .* not model weights; the weights are in .*last\.safetensors/);
  });

  it('start --model with a folder names it, before any data or device work', () => {
    const r = cli(['start', '--quick', '--out', join(dir, 'start-folder'), '--model', dir], 60_000);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain(`hnfnet: ${dir}: cannot read the weights file (EISDIR, it is a folder) [DATA]`);
    expect(r.stderr).not.toMatch(/phantom|WebGPU adapter/);
  }, 120_000);
});

describe('--skip-existing', () => {
  it('redoes a truncated output (a killed or failed write of an older version) instead of skipping it', async () => {
    const out = join(dir, 'preds');
    const target = join(out, `${id}.nii.gz`);
    const c = await readNiftiFile(join(caseDir, `${id}_seg.nii.gz`));
    await writeSegmentation(target, new Uint8Array(c.data.length).fill(1), { grid: c.grid, naming: '2021' });
    const whole = readFileSync(target);
    writeFileSync(target, whole.subarray(0, whole.length >> 1));
    const r = cli(['infer', '--model', weights, '--case', join(dir, 'data'), '--out', out, '--skip-existing', '--tta', '1', '--window', '16']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/is there but not a complete segmentation \(.*truncated.*\); redoing it/);
    expect(r.stderr).toMatch(/segmented 1 of 1 cases/);
    expect((await readNiftiFile(target)).dims).toEqual([24, 24, 24]);
    // Complete now: the next run skips it.
    const again = cli(['infer', '--model', weights, '--case', join(dir, 'data'), '--out', out, '--skip-existing', '--tta', '1', '--window', '16']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/segmented 0 of 1 cases .*\(1 already there, skipped\)/);
  }, 240_000);
});

describe('eval refuses label maps that are not label maps', () => {
  const grid = gridFromAffine(identityAffine(), [8, 8, 8]);
  const labels = (f: (i: number) => number) => Float32Array.from({ length: 512 }, (_, i) => f(i));
  const run = async (argv: string[]) => {
    let err = '';
    const code = await runEval(argv, { out: () => {}, err: (t) => void (err += t) });
    return { code, err };
  };

  it('a prediction with values between labels (0.5 … 4.5) is refused, naming the file and a voxel', async () => {
    const gt = join(dir, 'gt.nii.gz');
    const pred = join(dir, 'soft.nii.gz');
    await writeNiftiFile(gt, labels((i) => [0, 1, 2, 4][i % 4]!), grid, { datatype: 'uint8' });
    await writeNiftiFile(pred, labels((i) => 0.5 + (i % 5)), grid, { datatype: 'float32' });
    await expect(run(['--pred', pred, '--gt', gt])).rejects.toThrow(`${pred}: the prediction is not a label map: voxel 0 holds 0.5, and labels are integers`);
    await expect(run(['--pred', gt, '--gt', pred])).rejects.toThrow(`${pred}: the ground truth is not a label map`);
  });

  it('unknown labels in the prediction are warned about, as in the ground truth; --et-label other than 3 or 4 is refused', async () => {
    const gt = join(dir, 'gt2.nii.gz');
    const pred = join(dir, 'odd.nii.gz');
    await writeNiftiFile(gt, labels((i) => [0, 1, 2, 4][i % 4]!), grid, { datatype: 'uint8' });
    await writeNiftiFile(pred, labels((i) => [0, 1, 5, 255][i % 4]!), grid, { datatype: 'uint8' });
    const r = await run(['--pred', pred, '--gt', gt]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`${pred} (prediction): labels [5, 255] belong to no region with ET = 4; they count as background`);
    await expect(run(['--pred', pred, '--gt', gt, '--et-label', '7'])).rejects.toThrow('--et-label must be 4 (BraTS 2018-2021) or 3 (BraTS 2023), got 7');
  });

  it('eval --out onto its ground truth is refused', async () => {
    const gt = join(dir, 'gt3.nii.gz');
    await writeNiftiFile(gt, labels((i) => i % 3), grid, { datatype: 'uint8' });
    const before = readFileSync(gt);
    await expect(run(['--pred', gt, '--gt', gt, '--out', gt])).rejects.toThrow(`the output ${gt} is the input ${gt}`);
    expect(readFileSync(gt).equals(before)).toBe(true);
  });
});

describe('readers: fall-backs said and consistent, sizes bounded', () => {
  const u8 = (n: number) => new Uint8Array(n);

  it('a zero or NaN pixdim gives an affine that treats it as 1, as the warning says', () => {
    for (const bad of [0, NaN]) {
      const v = readNifti(buildNifti({ dim: [3, 2, 2, 2], datatype: 2, bitpix: 8, pixdim: [1, bad, 2, 3], data: u8(8) }), { name: 'p.nii' });
      expect(v.warnings).toContain(`pixdim[1] is ${bad}; the affine treats it as 1`);
      expect([v.affine[0]![0], v.affine[1]![1], v.affine[2]![2]]).toEqual([1, 2, 3]);
    }
  });

  it('an all-zero sform with sform_code 1 is passed over for the qform, with a warning', () => {
    const v = readNifti(
      buildNifti({ dim: [3, 2, 2, 2], datatype: 2, bitpix: 8, pixdim: [1, 2, 2, 2], qformCode: 1, sformCode: 1, quatern: [0, 0, 0], qoffset: [5, 6, 7], srow: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], data: u8(8) }),
      { name: 's.nii' },
    );
    expect(v.warnings).toContain('sform_code is 1 but the sform is singular or not finite (all zero?); using the qform instead');
    expect(v.affine).toEqual([[2, 0, 0, 5], [0, 2, 0, 6], [0, 0, 2, 7], [0, 0, 0, 1]]);
  });

  it('a small gzip that inflates far beyond what its header needs is refused, not inflated whole', () => {
    const file = buildNifti({ dim: [3, 4, 4, 4], datatype: 2, bitpix: 8, data: u8(64) });
    const bomb = gzipSync(Buffer.concat([file, Buffer.alloc(64 << 20)]));
    expect(bomb.length).toBeLessThan(1 << 20);
    expect(() => readNifti(bomb, { name: 'bomb.nii.gz', gunzip: nodeGunzip })).toThrow(/^bomb\.nii\.gz: gzip stream inflates to more than the 416 bytes its NIfTI header needs/);
    expect(readNifti(gzipSync(file), { name: 'ok.nii.gz', gunzip: nodeGunzip }).dims).toEqual([4, 4, 4]);
  });

  it('a run log’s corrupt lines are reported, a torn last line is not', () => {
    const bad: number[] = [];
    const lines = parseLog('{"type":"step","step":1}\nnot json\n{"no":"type"}\n{"type":"step","step":2}\n{"type":"st', (n) => bad.push(n));
    expect(lines.map((l) => l.step)).toEqual([1, 2]);
    expect(bad).toEqual([2, 3]);
  });

  it('a file without a single log entry is refused for plotting, not drawn as an empty plot', async () => {
    const notLog = join(dir, 'notes.txt');
    writeFileSync(notLog, 'these are notes\nnot a log\n');
    await expect(runCurves(notLog, 'x')).rejects.toThrow(`${notLog}: holds no log entries (2 lines that are not entries); a run's log is RUN/log.jsonl`);
  });
});
