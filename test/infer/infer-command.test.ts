import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createRequire } from 'node:module';
import { buildModel } from '../../src/hnfnet/build.js';
import { presetConfig } from '../../src/hnfnet/config.js';
import { saveWeights } from '../../src/hnfnet/weights.js';
import { readNiftiFile, writePhantomCase } from '../../src/data/index.node.js';
import { HAVE_SHARED, REPO_ROOT, SHARED_BRATS, SKIP_REASON } from '../data/helpers.js';
import { getDevice } from '../helpers.js';

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx/cli');
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [tsx, join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });

beforeAll(async () => {
  await getDevice();
});

describe.skipIf(!HAVE_SHARED)(`hnfnet infer on a real BraTS case${HAVE_SHARED ? '' : ` (${SKIP_REASON})`}`, () => {
  it('a tiny model with random weights writes a NIfTI on the input grid with BraTS labels, and eval reads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-infer-'));
    const weights = join(dir, 'tiny.safetensors');
    const model = buildModel('tiny', { seed: 3 });
    writeFileSync(weights, await saveWeights(model, presetConfig('tiny'), 'tiny'));
    model.dispose();
    const caseDir = join(SHARED_BRATS, 'Brats18_TCIA10_628_1');
    const out = join(dir, 'seg.nii.gz');
    // Small windows and no TTA keep this fast on a software GPU; the recipe's defaults are timed in the bench.
    const r = cli(['infer', '--model', weights, '--case', caseDir, '--out', out, '--tta', '1', '--window', '64', '--overlap', '0', '--crop', 'brain', '--threshold', '0.5']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*seg\.nii\.gz/);
    const seg = await readNiftiFile(out);
    const t1 = await readNiftiFile(join(caseDir, 'Brats18_TCIA10_628_1_t1.nii.gz'));
    expect(seg.dims).toEqual(t1.dims);
    expect(seg.affine).toEqual(t1.affine);
    expect(seg.header.datatype).toBe('uint8');
    const labels = new Set(seg.data);
    for (const l of labels) expect([0, 1, 2, 4]).toContain(l);
    const gt = join(caseDir, 'Brats18_TCIA10_628_1_seg.nii.gz');
    const ev = cli(['eval', '--pred', out, '--gt', gt, '--format', 'json']);
    expect(ev.status, ev.stderr).toBe(0);
    const m = JSON.parse(ev.stdout) as Record<string, { dice: number; hd95: number }>;
    for (const region of ['ET', 'TC', 'WT']) {
      expect(m[region]!.dice).toBeGreaterThanOrEqual(0);
      expect(m[region]!.dice).toBeLessThanOrEqual(1);
    }
  }, 400_000);

  it('a weights file that does not fit the model names the mismatches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-infer-'));
    const weights = join(dir, 'bad.safetensors');
    const model = buildModel('tiny', { seed: 1 });
    const cfg = presetConfig('tiny');
    // Claim a wider model than the tensors hold.
    const wider = { ...cfg, stemChannels: ((cfg as { stemChannels?: number }).stemChannels ?? 8) * 2 };
    writeFileSync(weights, await saveWeights(model, wider as typeof cfg, 'tiny'));
    model.dispose();
    const r = cli(['infer', '--model', weights, '--case', join(SHARED_BRATS, 'Brats18_TCIA10_628_1'), '--out', join(dir, 'x.nii.gz'), '--tta', '1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.safetensors does not fit the model/);
    expect(r.stderr).toMatch(/shape \[\d+(, \d+)*\] in file, model has/);
  }, 120_000);
});

describe('hnfnet infer on a data set (a folder of case folders)', () => {
  it('writes <id>.nii.gz per case, reports a corrupt case and goes on, --skip-existing resumes, eval matches the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-infer-set-'));
    const data = join(dir, 'data');
    const ids: string[] = [];
    for (const seed of [1, 2, 3]) ids.push(basename(await writePhantomCase(data, { size: 24, seed })));
    // Case 2's T1 cut off mid-volume.
    const t1 = join(data, ids[1]!, `${ids[1]}_t1.nii.gz`);
    const good = readFileSync(t1);
    writeFileSync(t1, good.subarray(0, good.length >> 1));
    const weights = join(dir, 'tiny.safetensors');
    const model = buildModel('tiny', { seed: 3 });
    writeFileSync(weights, await saveWeights(model, presetConfig('tiny'), 'tiny'));
    model.dispose();
    const out = join(dir, 'preds');
    const args = ['infer', '--model', weights, '--case', data, '--out', out, '--tta', '1', '--window', '16'];

    const first = cli(args);
    expect(first.status, first.stderr).toBe(1);
    expect(first.stderr).toMatch(new RegExp(`case 2/3 .*${ids[1]}: failed: .*${ids[1]}_t1\\.nii\\.gz`));
    expect(first.stderr).toMatch(/segmented 2 of 3 cases/);
    expect(first.stderr).toMatch(/1 case failed: /);
    expect(readdirSync(out).sort()).toEqual([`${ids[0]}.nii.gz`, `${ids[2]}.nii.gz`]);
    const before = statSync(join(out, `${ids[0]}.nii.gz`)).mtimeMs;

    writeFileSync(t1, good);
    const again = cli([...args, '--skip-existing']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/segmented 1 of 3 cases into .* \(2 already there, skipped\)/);
    expect(statSync(join(out, `${ids[0]}.nii.gz`)).mtimeMs).toBe(before);
    const seg = await readNiftiFile(join(out, `${ids[1]}.nii.gz`));
    expect(seg.dims).toEqual([24, 24, 24]);

    const ev = cli(['eval', '--pred', out, '--gt', data, '--format', 'json']);
    expect(ev.status, ev.stderr).toBe(0);
    expect(Object.keys((JSON.parse(ev.stdout) as { cases: Record<string, unknown> }).cases).sort()).toEqual([...ids].sort());

    const wrong = cli(['infer', '--model', weights, '--case', data, '--out', join(dir, 'one.nii.gz')]);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/is a data set of 3 case folders: --out must be a folder/);
  }, 300_000);
});

// 32 channels × 130³ × 4 bytes (the stem's padded input at 128³) is ~281 MB; tensors beyond one
// binding are split, so what bounds a window is maxBufferSize, here lowered to 128 MiB.
const MAX_BUFFER = String(128 << 20);
describe('hnfnet infer with windows too large for the device', () => {
  it('names the limit, the shape and the largest window that fits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-infer-limit-'));
    const caseDir = await writePhantomCase(join(dir, 'data'), { size: 24, seed: 1 });
    const weights = join(dir, 'wide.safetensors');
    // tiny with a stem as wide as HNF-Netv2's: its full-resolution activations are what break the limit.
    const cfg = { ...presetConfig('tiny'), stemChannels: 32 } as ReturnType<typeof presetConfig>;
    const model = buildModel(cfg, { seed: 1 });
    writeFileSync(weights, await saveWeights(model, cfg));
    model.dispose();
    const r = cli(['infer', '--model', weights, '--case', caseDir, '--out', join(dir, 'seg.nii.gz'), '--tta', '1', '--window', '128'], { HNFNET_MAX_BUFFER: MAX_BUFFER });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/tensor of shape \[1, 32, 1\d\d, 1\d\d, 1\d\d\] needs \d+ bytes, more than the device's maxBufferSize \(\d+ bytes\)/);
    expect(r.stderr).toMatch(/Windows of 128³ are too large for this device: rerun with --window (96|64|48|32) \(the largest that fits\)/);
    const w = Number(/--window (\d+)/.exec(r.stderr)![1]);
    const ok = cli(['infer', '--model', weights, '--case', caseDir, '--out', join(dir, 'seg.nii.gz'), '--tta', '1', '--window', String(w)], { HNFNET_MAX_BUFFER: MAX_BUFFER });
    expect(ok.status, ok.stderr).toBe(0);
  }, 300_000);
});
