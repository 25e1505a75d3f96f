import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { buildModel } from '../../src/hnfnet/build.js';
import { presetConfig } from '../../src/hnfnet/config.js';
import { saveWeights } from '../../src/hnfnet/weights.js';
import { readNiftiFile } from '../../src/data/index.node.js';
import { HAVE_SHARED, REPO_ROOT, SHARED_BRATS, SKIP_REASON } from '../data/helpers.js';
import { getDevice } from '../helpers.js';

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx/cli');
const cli = (args: string[]) => spawnSync(process.execPath, [tsx, join(REPO_ROOT, 'src/cli/main.ts'), ...args], { encoding: 'utf8', timeout: 600_000 });

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
