/** Path-based NIfTI reading and writing for Node, with zlib's native (and CRC-checking) gunzip. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError } from './errors.js';
import { readNifti, type ReadNiftiOptions } from './nifti-read.js';
import { encodeNifti, type EncodeNiftiOptions } from './nifti-write.js';
import type { NiftiGrid, Volume } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

/** zlib checks the gzip CRC and length itself, and is about twice as fast as fflate here. */
export function nodeGunzip(bytes: Uint8Array): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new ArgumentError(`gzip stream is truncated or corrupt (zlib: ${e instanceof Error ? e.message : String(e)})`);
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

/** Writes `data` on `grid`; gzip follows the extension (.nii.gz compressed, .nii not). */
export async function writeNiftiFile(path: string, data: ArrayLike<number>, grid: NiftiGrid, opts: Omit<EncodeNiftiOptions, 'gzip'>): Promise<void> {
  if (!/\.nii(\.gz)?$/i.test(path)) throw new DataError(path, 'output name must end in .nii or .nii.gz');
  const bytes = encodeNifti(data, grid, { ...opts, name: opts.name ?? path, gzip: /\.gz$/i.test(path) });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}
