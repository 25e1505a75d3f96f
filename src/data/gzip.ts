/**
 * gzip for browsers and Node alike (fflate). fflate does not verify the gzip trailer, so a corrupt
 * stream can inflate "successfully" into wrong voxels; the CRC-32 and length check here turn that
 * into an error, as the format intends. Inflation is streamed, so that a bound (what a file's
 * header says it needs) stops a decompression bomb before it fills memory.
 */
import { Gunzip, gzipSync } from 'fflate';
import { ArgumentError } from '../tensor/errors.js';

/** Inflates a whole gzip member; throws an Error saying what is wrong. */
export type GunzipFn = (bytes: Uint8Array) => Uint8Array;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

let crcTables: Uint32Array[] | null = null;

/** Slicing-by-8 tables: a BraTS volume is ~18 MB, where the byte-at-a-time loop would cost ~100 ms. */
function tables(): Uint32Array[] {
  if (crcTables) return crcTables;
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[0]![n]!;
    for (let k = 1; k < 8; k++) {
      c = t[0]![c & 0xff]! ^ (c >>> 8);
      t[k]![n] = c >>> 0;
    }
  }
  crcTables = t;
  return t;
}

export function crc32(bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables() as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = 0xffffffff;
  const n = bytes.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
  }
  for (; i < n; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The most bytes a stream may inflate to, and what the error says when it inflates to more. */
export interface InflateBound {
  maxBytes: number;
  message: string;
}

export interface GunzipOptions {
  /**
   * Decides the bound from the first `headBytes` inflated bytes (a file header's worth); null
   * means none. A stream shorter than that is not bounded (it is small).
   */
  bound?: (head: Uint8Array) => InflateBound | null;
  /** Inflated bytes the bound is decided on; default 64 KiB. */
  headBytes?: number;
}

/** Compressed bytes fed per step: deflate inflates at most ~1032×, so a step overshoots a bound by under 17 MB. */
const PUSH_BYTES = 16 * 1024;

/** Thrown from fflate's member callback to stop at the end of the first member. */
const SECOND_MEMBER = Symbol('second gzip member');

/**
 * Inflates the first gzip member with fflate, stopping with an ArgumentError once the output
 * passes `opts.bound`, and checks the trailer's CRC-32 and length (mod 2^32).
 */
export function gunzipChecked(bytes: Uint8Array, opts: GunzipOptions = {}): Uint8Array {
  if (!isGzip(bytes)) throw new ArgumentError('not gzip data (no 1f 8b magic)');
  if (bytes.length < 18) throw new ArgumentError(`gzip stream is truncated (${bytes.length} bytes, shorter than a gzip header and trailer)`);
  const headBytes = opts.headBytes ?? 64 * 1024;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let bound: InflateBound | null = null;
  let decided = opts.bound === undefined;
  const stream = new Gunzip((chunk) => {
    chunks.push(chunk);
    total += chunk.length;
    if (!decided && total >= headBytes) {
      decided = true;
      bound = opts.bound!(concat(chunks, headBytes));
    }
    // Checked per step, and the whole only assembled at the end: a header's claim alone allocates nothing.
    if (bound && total > bound.maxBytes) throw new ArgumentError(bound.message);
  });
  let members = 1;
  stream.onmember = () => {
    members++;
    throw SECOND_MEMBER;
  };
  try {
    for (let off = 0; off < bytes.length; off += PUSH_BYTES) stream.push(bytes.subarray(off, off + PUSH_BYTES), off + PUSH_BYTES >= bytes.length);
  } catch (e) {
    if (e instanceof ArgumentError) throw e;
    if (e !== SECOND_MEMBER) throw new ArgumentError(`gzip stream is truncated or corrupt (${e instanceof Error ? e.message : String(e)})`);
  }
  const out = concat(chunks, total);
  const n = bytes.length;
  const wantCrc = (bytes[n - 8]! | (bytes[n - 7]! << 8) | (bytes[n - 6]! << 16) | (bytes[n - 5]! << 24)) >>> 0;
  const wantLen = (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0;
  // Only the first member of a concatenated (multi-member) stream, as bgzip writes them, is
  // read; the trailer check then fails, and the message says which of the two it probably is.
  const hint = members > 1 || laterMember(bytes) ? '; it seems to hold several gzip members (as bgzip writes), which only the Node reader supports' : '';
  if (out.length >>> 0 !== wantLen) {
    throw new ArgumentError(`gzip stream is truncated or corrupt (inflated ${out.length} bytes, trailer says ${wantLen})${hint}`);
  }
  const got = crc32(out);
  if (got !== wantCrc) {
    throw new ArgumentError(`gzip stream is corrupt (CRC-32 of the inflated data is ${hex(got)}, trailer says ${hex(wantCrc)})${hint}`);
  }
  return out;
}

/** The first `take` bytes of `chunks` (all of them when fewer), in one buffer. */
function concat(chunks: readonly Uint8Array[], take: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length <= take) return chunks[0]!;
  const out = new Uint8Array(Math.min(take, chunks.reduce((n, c) => n + c.length, 0)));
  let off = 0;
  for (const c of chunks) {
    if (off >= out.length) break;
    const part = c.subarray(0, out.length - off);
    out.set(part, off);
    off += part.length;
  }
  return out;
}

/** gzip with a zero mtime, so the same voxels always give the same bytes. */
export function gzip(bytes: Uint8Array, level: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 = 6): Uint8Array {
  return gzipSync(bytes, { level, mtime: 0 });
}

/** Whether a second gzip member header (1f 8b 08, sane flags) appears after the first. */
function laterMember(bytes: Uint8Array): boolean {
  for (let i = 18; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0x1f && bytes[i + 1] === 0x8b && bytes[i + 2] === 8 && bytes[i + 3]! < 32) return true;
  }
  return false;
}

function hex(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}
