/**
 * The portable GPU bench (`npm run bench:bundle`): built into a temporary folder and run through
 * its launcher here, on whatever adapter this machine has (lavapipe in CI), with one small conv3d
 * row and its PyTorch peer on the CPU where a Python with torch exists.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleBench } from '../../scripts/bench-bundle.js';
import { CASE_MODULES } from '../../bench/bundle-entry.js';
import { torchPython } from '../../bench/peers/python.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ROW = 'conv3d fwd 3x3x3 32->32 @32^3';

function hasTorch(): boolean {
  try {
    torchPython();
    return true;
  } catch {
    return false;
  }
}

const unsupported =
  process.platform !== 'linux' || process.arch !== 'x64' ? 'the bundle is for linux-x64' : spawnSync('xz', ['--version']).status !== 0 ? 'no xz' : null;

describe('bench/bundle-entry.ts', () => {
  it('lists every case module of bench/cases/', () => {
    const files = readdirSync(path.join(ROOT, 'bench/cases')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
    expect(Object.keys(CASE_MODULES).sort()).toEqual(files.sort());
  });
});

describe.skipIf(unsupported !== null)(`the GPU bench bundle${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  let dir = '';
  let log: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hnfnet-bench-bundle-'));
    log = await bundleBench({ out: path.join(dir, 'bundle'), xzLevel: 0 });
  }, 300_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the script, the compressed Dawn binding, the peers, the loader and the launcher, and says its size', () => {
    const b = path.join(dir, 'bundle');
    for (const f of ['bench.mjs', 'dist/linux-x64/dawn.node.xz', 'bench/peers/torch_conv3d.py', 'bench/peers/torch_twin.py', 'python/hnfnet_torch/__init__.py', 'run.sh', 'README.txt']) {
      expect(existsSync(path.join(b, f)), f).toBe(true);
    }
    expect(existsSync(path.join(b, 'dist/linux-x64/dawn.node'))).toBe(false);
    expect(log.at(-1)).toMatch(/MiB in all$/);
    // Nothing npm-only may be left for the launcher to resolve at run time.
    const script = readFileSync(path.join(b, 'bench.mjs'), 'utf8');
    expect(script).not.toMatch(/from ["'](webgpu|fflate|nifti-reader-js)["']/);
  });

  it('runs through run.sh with a node placed beside it and the bundled Vulkan loader, and writes the rows and tables', () => {
    const b = path.join(dir, 'bundle');
    symlinkSync(process.execPath, path.join(b, 'node'));
    const torch = hasTorch();
    const r = spawnSync(path.join(b, 'run.sh'), ['--quick', '--reps', '1', '--filter', ROW], {
      encoding: 'utf8',
      env: { ...process.env, HNFNET_VULKAN_LOADER: 'bundle', HNFNET_TORCH_DEVICE: torch ? 'cpu' : 'none', HNFNET_NODE: '' },
      timeout: 600_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toContain(`(${path.join(b, 'node')}); Vulkan loader: bundle's`);
    expect(existsSync(path.join(b, 'dist/linux-x64/dawn.node'))).toBe(true);
    const results = path.join(b, 'results');
    const json = readdirSync(results).find((f) => f.endsWith('.json'))!;
    const data = JSON.parse(readFileSync(path.join(results, json), 'utf8')) as { quick: boolean; rows: { name: string; impl: string; gflops?: number; error?: string; timeVsHnfnet?: number }[] };
    expect(data.quick).toBe(true);
    const ours = data.rows.find((row) => row.impl === 'hnfnet')!;
    expect(ours).toMatchObject({ name: ROW });
    expect(ours.error).toBeUndefined();
    expect(ours.gflops).toBeGreaterThan(0);
    const text = readFileSync(path.join(results, json.replace(/\.json$/, '.txt')), 'utf8');
    expect(text).toContain('side by side');
    if (torch) {
      const peer = data.rows.find((row) => row.impl === 'pytorch-cpu')!;
      expect(peer).toMatchObject({ name: ROW });
      expect(peer.error).toBeUndefined();
      expect(peer.gflops).toBeGreaterThan(0);
      expect(peer.timeVsHnfnet).toBeGreaterThan(0);
      expect(text).toMatch(new RegExp(`${ROW.replace(/[\^>]/g, '\\$&')}\\s+[0-9.]+\\s+[0-9.]+ \\([0-9.]+x\\)`));
    } else expect(data.rows).toHaveLength(1);
  }, 600_000);
});
