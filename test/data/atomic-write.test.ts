/**
 * The one atomic writer every output goes through: a failed or killed write leaves the old file
 * whole, removes its temp file and names the path. A full disk is simulated by failing the writes
 * of temp files with ENOSPC after half their bytes (this file's fs is mocked for that).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeDirs, probeOutputDir, writeFileAtomic } from '../../src/data/atomic-write.node.js';
import { writeNiftiFile } from '../../src/data/nifti-file.node.js';
import { writeSegmentation } from '../../src/data/case-files.node.js';
import { writeLastCheckpoint } from '../../src/train/checkpoint-files.node.js';
import { gridFromAffine, identityAffine } from '../../src/data/affine.js';
import { REPO_ROOT } from './helpers.js';

const disk = vi.hoisted(() => ({ full: false }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (path, flags, mode) => {
    const fh = await real.open(path, flags, mode);
    if (!disk.full || !/\.tmp-\d+$/.test(String(path))) return fh;
    // The disk holds 1 KiB more per file: that much is written, then ENOSPC.
    const write = fh.write.bind(fh) as (b: Uint8Array, off: number, len: number) => Promise<{ bytesWritten: number }>;
    let room = 1024;
    (fh as unknown as { write: typeof write }).write = async (b, off, len) => {
      if (room === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      const r = await write(b, off, Math.min(len, room));
      room -= r.bytesWritten;
      return r;
    };
    return fh;
  };
  return { ...real, open, default: { ...real, open } };
});

afterEach(() => {
  disk.full = false;
});

const grid = gridFromAffine(identityAffine(), [32, 32, 32]);
/** n pseudo-random integers below k (xorshift32): data that does not compress to nothing. */
function random(n: number, k: number): Float32Array {
  let x = 2463534242;
  return Float32Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % k;
  });
}

describe('atomic outputs on a full disk', () => {
  it('writeFileAtomic: the error names the path and ENOSPC, the old file is intact, no temp file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-atomic-'));
    const path = join(dir, 'metrics.json');
    writeFileSync(path, 'old and good');
    disk.full = true;
    await expect(writeFileAtomic(path, 'x'.repeat(10_000))).rejects.toThrow(`${path}: cannot write (ENOSPC, no space left on the device)`);
    expect(readFileSync(path, 'utf8')).toBe('old and good');
    expect(readdirSync(dir)).toEqual(['metrics.json']);
  });

  it('segmentations and probability maps (writeSegmentation, writeNiftiFile) go through it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-atomic-'));
    const seg = join(dir, 'seg.nii.gz');
    const probs = join(dir, 'p_wt.nii.gz');
    writeFileSync(seg, 'previous segmentation');
    writeFileSync(probs, 'previous map');
    disk.full = true;
    await expect(writeSegmentation(seg, Uint8Array.from(random(32 ** 3, 4)), { grid, naming: '2021' })).rejects.toThrow(`${seg}: cannot write (ENOSPC`);
    await expect(writeNiftiFile(probs, random(32 ** 3, 1000).map((v) => v / 1000), grid, { datatype: 'float32' })).rejects.toThrow(`${probs}: cannot write (ENOSPC`);
    expect(readFileSync(seg, 'utf8')).toBe('previous segmentation');
    expect(readFileSync(probs, 'utf8')).toBe('previous map');
    expect(readdirSync(dir).sort()).toEqual(['p_wt.nii.gz', 'seg.nii.gz']);
  });

  it('a checkpoint whose second file fails leaves neither temp file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-atomic-'));
    disk.full = true;
    // The weights (100 bytes) fit; the training state does not.
    await expect(writeLastCheckpoint(dir, new Uint8Array(100), new Uint8Array(4096))).rejects.toThrow(/last\.train\.safetensors: cannot write \(ENOSPC/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('output folders', () => {
  it('are created without hanging where Node’s recursive mkdir never returns (/proc), with an error naming the folder', async () => {
    await expect(makeDirs('/proc/hnfnet-no-such/a/b')).rejects.toThrow(/\/proc\/hnfnet-no-such: cannot create the folder \(ENOENT/);
    await expect(probeOutputDir('/proc/hnfnet-no-such/out')).rejects.toThrow(/\/proc\/hnfnet-no-such: cannot create the folder/);
    const dir = join(mkdtempSync(join(tmpdir(), 'hnfnet-atomic-')), 'a', 'b', 'c');
    await probeOutputDir(dir);
    expect(readdirSync(dir)).toEqual([]);
  }, 20_000);

  it('a file in the way of a folder is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-atomic-'));
    writeFileSync(join(dir, 'f'), '');
    await expect(makeDirs(join(dir, 'f', 'g'))).rejects.toThrow(`${join(dir, 'f', 'g')}: cannot create the folder (ENOTDIR`);
    await expect(makeDirs(join(dir, 'f'))).rejects.toThrow(`${join(dir, 'f')}: cannot create the folder (EEXIST`);
  });
});

describe('a process killed while writing', () => {
  it('leaves the old file under the name, never a truncated one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hnfnet-atomic-'));
    const path = join(dir, 'seg.nii.gz');
    writeFileSync(path, 'old and good');
    const script = `import { writeFileAtomic } from ${JSON.stringify(join(REPO_ROOT, 'src/data/atomic-write.node.ts'))};
await writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(1 << 20), { crashHalfway: true });`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    expect(readFileSync(path, 'utf8')).toBe('old and good');
  }, 60_000);
});
