/**
 * Crash-safe file output for every file the project writes: the bytes go to `<path>.tmp-<pid>`
 * in the same folder, are fsynced, and only then renamed over `path` (rename is atomic on POSIX
 * file systems), and the folder is fsynced so the rename itself survives a power cut. A process
 * killed at any point leaves either the old file or the new one under `path`, never a mixture; a
 * failed write (a full disk) removes its temp file and leaves the old file as it was. Errors name
 * the path and say what the system said.
 */
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DataError } from './errors.js';

export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  EEXIST: 'a file is in the way',
  EIO: 'input/output error',
};

/** `ENOSPC (no space left on the device)`: the code and what it means, for messages. */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code) return REASONS[code] ? `${code}, ${REASONS[code]}` : code;
  return e instanceof Error ? e.message : String(e);
}

/** An fs failure while writing `path`, as a DataError naming it (a DataError passes through). */
export function writeError(path: string, e: unknown, what = 'cannot write'): DataError {
  if (e instanceof DataError) return e;
  const err = new DataError(path, `${what} (${describeFsError(e)})`);
  (err as { cause?: unknown }).cause = e;
  return err;
}

export interface TempWriteOptions {
  /**
   * Test hook: write only the first half of the bytes, fsync them, and SIGKILL this process,
   * which is what a crash in the middle of a write looks like on disk.
   */
  crashHalfway?: boolean;
}

/** Writes and fsyncs the temp file of `path`; returns its name. On failure the temp file is gone. */
export async function writeTemp(path: string, bytes: Uint8Array, opts: TempWriteOptions = {}): Promise<string> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w').catch((e: unknown) => {
    throw writeError(path, e);
  });
  try {
    if (opts.crashHalfway) {
      await fh.write(bytes, 0, Math.floor(bytes.byteLength / 2));
      await fh.sync();
      process.kill(process.pid, 'SIGKILL');
      // SIGKILL is delivered asynchronously; never carry on writing.
      await new Promise<never>(() => {});
    }
    let off = 0;
    while (off < bytes.byteLength) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.byteLength - off);
      off += bytesWritten;
    }
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw writeError(path, e);
  }
  await fh.close().catch(async (e: unknown) => {
    // close reports the deferred write errors of some file systems (NFS): the data is not safe.
    await unlink(tmp).catch(() => {});
    throw writeError(path, e);
  });
  return tmp;
}

/** fsyncs a folder, so renames inside it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a folder (EINVAL); the rename is then as durable as they allow.
  } finally {
    await fh.close();
  }
}

/** Moves a finished temp file over `path`; a failed rename removes the temp file. */
export async function commitTemp(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw writeError(path, e, 'cannot replace');
  }
}

/** Replaces (or creates) `path` with `bytes`, atomically. The folder must exist (see `prepareOutputDir`). */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, opts: TempWriteOptions = {}): Promise<void> {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const tmp = await writeTemp(path, data, opts);
  await commitTemp(tmp, path);
  await syncDir(dirname(path));
}

/**
 * `mkdir -p` one level at a time. Node's `mkdir(…, {recursive: true})` never returns for some
 * paths (under /proc, for one), which would hang a command after its work is done.
 */
export async function makeDirs(dir: string): Promise<void> {
  try {
    await mkdir(dir);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      const s = await stat(dir).catch(() => null);
      if (s?.isDirectory()) return;
      throw writeError(dir, e, 'cannot create the folder');
    }
    if (code !== 'ENOENT') throw writeError(dir, e, 'cannot create the folder');
  }
  const parent = dirname(dir);
  if (parent === dir) throw new DataError(dir, 'cannot create the folder (its root does not exist)');
  await makeDirs(parent);
  await mkdir(dir).catch(async (e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(dir).catch(() => null))?.isDirectory()) return;
    throw writeError(dir, e, 'cannot create the folder');
  });
}

/** Creates `dirname(path)` if needed and writes `path` atomically. */
export async function writeOutputFile(path: string, bytes: Uint8Array | string): Promise<void> {
  await makeDirs(dirname(path));
  await writeFileAtomic(path, bytes);
}

/** How long an output check waits for a file system that does not answer (a dead network mount). */
export const PROBE_TIMEOUT_MS = 15_000;

/**
 * Checks before any long work that files can be written into `dir`: creates it if needed, then
 * writes, fsyncs and removes a small probe file. Throws a DataError naming the folder, also when
 * the file system has not answered within `timeoutMs`.
 */
export async function probeOutputDir(dir: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  const probe = async () => {
    await makeDirs(dir);
    const p = `${dir.replace(/\/+$/, '') || '/'}/.hnfnet-write-probe-${process.pid}`;
    const tmp = await writeTemp(p, new Uint8Array(1)).catch((e: unknown) => {
      throw new DataError(dir, `cannot write files into this folder (${describeFsError((e as { cause?: unknown }).cause ?? e)})`);
    });
    await unlink(tmp).catch(() => {});
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DataError(dir, `the file system did not answer within ${timeoutMs / 1000} s (a hung mount?)`)), timeoutMs);
    // A hung probe must not keep the process alive after the error has been reported.
    timer.unref();
  });
  try {
    await Promise.race([probe(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks that `path` can be written as a file: not a folder, and its folder writable (probed as
 * above). `what` says which output it is (a flag name) in the error.
 */
export async function probeOutputFile(path: string, what: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (s?.isDirectory()) throw new DataError(path, `${what} is a folder; a file name is needed here`);
  await probeOutputDir(dirname(path), timeoutMs);
}
