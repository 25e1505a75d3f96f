/** Path-based NIfTI reading and writing for Node, with zlib's native (and CRC-checking) gunzip. */
import { open, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { kMaxLength } from 'node:buffer';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { writeOutputFile } from './atomic-write.node.js';
import { DataError } from './errors.js';
import { isGzip } from './gzip.js';
import { niftiInflateBound } from './nifti-gzip.js';
import { parseNiftiHeader, type ParsedHeader } from './nifti-header.js';
import { readNifti, type ReadNiftiOptions } from './nifti-read.js';
import { encodeNifti, type EncodeNiftiOptions } from './nifti-write.js';
import type { NiftiGrid, Volume } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

/** The first bytes of a gzip stream, inflated as far as they go (enough for a header). */
function inflateHead(bytes: Uint8Array): Uint8Array {
  // A sync flush returns what the bytes at hand inflate to, without asking for the stream's end.
  return gunzipSync(bytes.subarray(0, 64 * 1024), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
}

/**
 * zlib checks the gzip CRC and length itself, and is about twice as fast as fflate here.
 * Inflation stops at the size the NIfTI header implies (plus a little): a small file that
 * inflates to gigabytes (damaged, or a decompression bomb) is refused instead of filling memory.
 * Not a NIfTI header: the inflated head alone goes to the reader, which says what is wrong.
 */
export function nodeGunzip(bytes: Uint8Array): Uint8Array {
  const fail = (e: unknown) => new ArgumentError(`gzip stream is truncated or corrupt (zlib: ${e instanceof Error ? e.message : String(e)})`);
  let head: Uint8Array;
  try {
    head = inflateHead(bytes);
  } catch (e) {
    throw fail(e);
  }
  const bound = niftiInflateBound(head);
  if (bound === null) return head;
  try {
    // Past the largest buffer the header promises more than any file holds; the reader says so.
    return gunzipSync(bytes, { maxOutputLength: Math.min(bound.maxBytes, kMaxLength) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ArgumentError(bound.message);
    throw fail(e);
  }
}

export async function readNiftiFile(path: string, opts: Omit<ReadNiftiOptions, 'gunzip'> = {}): Promise<Volume> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new DataError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return readNifti(bytes, { ...opts, name: opts.name ?? path, gunzip: nodeGunzip });
}

export function readNiftiFileSync(path: string, opts: Omit<ReadNiftiOptions, 'gunzip'> = {}): Volume {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DataError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return readNifti(bytes, { ...opts, name: opts.name ?? path, gunzip: nodeGunzip });
}

/** The header of a NIfTI file, from its first bytes only (a few KiB inflated): its grid without its voxels. */
export async function readNiftiHeaderFile(path: string): Promise<ParsedHeader> {
  let head: Uint8Array;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = new Uint8Array(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new DataError(path, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (isGzip(head)) {
    try {
      head = inflateHead(head);
    } catch (e) {
      throw new DataError(path, `gzip stream is corrupt (zlib: ${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return parseNiftiHeader(head, path);
}

/** Writes `data` on `grid`; gzip follows the extension (.nii.gz compressed, .nii not). */
export async function writeNiftiFile(path: string, data: ArrayLike<number>, grid: NiftiGrid, opts: Omit<EncodeNiftiOptions, 'gzip'>): Promise<void> {
  if (!/\.nii(\.gz)?$/i.test(path)) throw new DataError(path, 'output name must end in .nii or .nii.gz');
  const bytes = encodeNifti(data, grid, { ...opts, name: opts.name ?? path, gzip: /\.gz$/i.test(path) });
  await writeOutputFile(path, bytes);
}
