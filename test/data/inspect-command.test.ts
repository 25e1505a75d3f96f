import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { command } from '../../src/cli/inspect-command.js';
import type { InspectReport } from '../../src/data/inspect.js';
import { HAVE_SHARED, REPO_ROOT, SKIP_REASON, caseDir, expectMatrixClose, loadFacts } from './helpers.js';

const run = promisify(execFile);
const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');

/** Runs the real CLI entry point in a child process, as a user would. */
async function hnfnet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [tsxCli, join(REPO_ROOT, 'src/cli/main.ts'), ...args], { cwd: REPO_ROOT, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe.skipIf(!HAVE_SHARED)(`hnfnet inspect on real files ${HAVE_SHARED ? '' : `(${SKIP_REASON})`}`, () => {
  it('prints header and nonzero statistics that agree with facts.json (an image with header extensions)', async () => {
    const facts = loadFacts('Brats18_TCIA10_628_1');
    const f = facts.modalities.t1ce;
    const { code, stdout, stderr } = await hnfnet('inspect', join(caseDir('Brats18_TCIA10_628_1'), f.file));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(stdout) as InspectReport;
    expect(r.shape).toEqual(f.shape);
    expect(r.datatype).toBe('int16');
    expect(r.pixdim).toEqual(f.pixdim.slice(1, 4));
    expect(r.pixdim_raw).toEqual(f.pixdim);
    expect(r.qform_code).toBe(f.qform_code);
    expect(r.sform_code).toBe(f.sform_code);
    expectMatrixClose(r.affine, f.nibabel_affine);
    expect(r.vox_offset).toBe(11456);
    expect(r.extensions).toEqual([{ ecode: 4, esize: 11104 }]);
    expect(r.nonzero).toBe(f.nonzero_voxels);
    expect([r.min, r.max, r.p0_5, r.p99_5]).toEqual([f.nonzero_min, f.nonzero_max, f.nonzero_p0_5_linear, f.nonzero_p99_5_linear]);
    expect(r.mean).toBeCloseTo(f.nonzero_mean!, 9);
    // facts.json's own names carry the same numbers.
    for (const k of ['nonzero_voxels', 'nonzero_min', 'nonzero_max', 'nonzero_p0_5_linear', 'nonzero_p99_5_linear', 'min_all', 'max_all', 'voxels_total', 'negative_voxels'] as const) {
      expect(r[k]).toBe(f[k]);
    }
    expect(r.nonzero_std_pop).toBeCloseTo(f.nonzero_std_pop!, 9);
    expect(r.labels).toBeUndefined();
  });

  it('in process: label counts for a segmentation; errors name the file; usage errors', async () => {
    const facts = loadFacts('Brats18_TCIA01_378_1');
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      expect(await command.run([join(caseDir('Brats18_TCIA01_378_1'), facts.seg.file)])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const r = JSON.parse(lines.join('\n')) as InspectReport;
    expect(r.labels).toEqual(facts.seg.label_voxel_counts);
    expect(r.label_voxel_counts).toEqual(facts.seg.label_voxel_counts);
    expect(r.datatype).toBe('uint8');
    expect([r.qform_code, r.sform_code, r.vox_offset]).toEqual([1, 1, 2592]);
    await expect(command.run(['/nonexistent/x.nii.gz'])).rejects.toThrow('/nonexistent/x.nii.gz: cannot read file (ENOENT)');
    await expect(command.run([])).rejects.toThrow(/hnfnet inspect: expected one file, got 0/);
    await expect(command.run(['a.nii', '--bogus', '1'])).rejects.toThrow(/unknown option --bogus/);
  });
});
