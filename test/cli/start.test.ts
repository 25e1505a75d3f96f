import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNiftiFile } from '../../src/data/index.node.js';
import { REPO_ROOT } from '../data/helpers.js';

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx/cli');

describe('npm start (hnfnet start --quick)', () => {
  it('runs the whole pipeline and writes valid outputs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'hnfnet-start-'));
    const r = spawnSync(process.execPath, [tsx, join(REPO_ROOT, 'src/cli/main.ts'), 'start', '--quick', '--out', out], { encoding: 'utf8', timeout: 500_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/done in [\d.]+ min/);
    // segmentation on the held-out phantom's grid
    const seg = await readNiftiFile(join(out, 'seg.nii.gz'));
    const held = join(out, 'data', 'phantom-002', 'phantom-002_t1.nii.gz');
    const img = await readNiftiFile(held);
    expect(seg.dims).toEqual(img.dims);
    expect(seg.affine).toEqual(img.affine);
    for (const v of new Set(seg.data)) expect([0, 1, 2, 4]).toContain(v);
    // metrics for the three regions
    const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Record<string, { dice: number; hd95: number }>;
    for (const region of ['WT', 'TC', 'ET']) {
      expect(m[region]!.dice).toBeGreaterThanOrEqual(0);
      expect(m[region]!.dice).toBeLessThanOrEqual(1);
      expect(Number.isFinite(m[region]!.hd95)).toBe(true);
    }
    // curves and figure
    const svg = readFileSync(join(out, 'curves.svg'), 'utf8');
    expect(svg.startsWith('<svg') || svg.startsWith('<?xml')).toBe(true);
    expect(svg).toMatch(/<\/svg>\s*$/);
    const png = readFileSync(join(out, 'overlay.png'));
    expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(statSync(join(out, 'overlay.png')).size).toBeGreaterThan(1000);
    expect(statSync(join(out, 'run', 'last.safetensors')).size).toBeGreaterThan(1000);
  }, 600_000);
});
