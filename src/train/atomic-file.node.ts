/**
 * Crash-safe file replacement: the bytes go to `<path>.tmp-<pid>`, are fsynced, and only then
 * renamed over `path` (rename is atomic on POSIX file systems), and the folder is fsynced so the
 * rename itself survives a power cut. A process killed at any point leaves either the old file or
 * the new one under `path`, never a mixture; at worst a stray temp file.
 */
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

export interface TempWriteOptions {
  /**
   * Test hook: write only the first half of the bytes, fsync them, and SIGKILL this process,
   * which is what a crash in the middle of a checkpoint looks like on disk.
   */
  crashHalfway?: boolean;
}

/** Writes and fsyncs the temp file of `path`; returns its name. */
export async function writeTemp(path: string, bytes: Uint8Array, opts: TempWriteOptions = {}): Promise<string> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w');
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
    throw e;
  }
  await fh.close();
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

/** Moves a finished temp file over `path`. */
export async function commitTemp(tmp: string, path: string): Promise<void> {
  await rename(tmp, path);
}

export async function writeFileAtomic(path: string, bytes: Uint8Array | string, opts: TempWriteOptions = {}): Promise<void> {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const tmp = await writeTemp(path, data, opts);
  await commitTemp(tmp, path);
  await syncDir(dirname(path));
}
