/**
 * The safetensors format: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`,
 * then the raw little-endian data. Readable by PyTorch's `safetensors` and written by it.
 */
import { HnfnetError } from '../tensor/errors.js';

export type SafeDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  /** Raw little-endian bytes of the values. */
  bytes: Uint8Array;
}

export class SafetensorsError extends HnfnetError {
  override name = 'SafetensorsError';
  override readonly code = 'SAFETENSORS';
}

const ITEM: Record<SafeDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function encodeSafetensors(tensors: Map<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array {
  // Sorted names keep files byte-identical for the same weights.
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const n of names) {
    const t = tensors.get(n)!;
    const expected = t.shape.reduce((a, d) => a * d, 1) * ITEM[t.dtype];
    if (t.bytes.byteLength !== expected) throw new SafetensorsError(`"${n}": ${t.bytes.byteLength} bytes for ${t.dtype}[${t.shape.join(', ')}] (${expected} expected)`);
    header[n] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    off += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += ' ';
  const hbytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hbytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const n of names) {
    const b = tensors.get(n)!.bytes;
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** Parses and checks a safetensors file; `source` names it in errors (truncation, bad header). */
export function decodeSafetensors(data: Uint8Array, source = 'safetensors data'): DecodedSafetensors {
  if (data.byteLength < 8) throw new SafetensorsError(`${source}: ${data.byteLength} bytes is too short for a safetensors file (truncated?)`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > data.byteLength - 8 || hlen > 100 * 2 ** 20) {
    throw new SafetensorsError(`${source}: header length ${hlen} exceeds the file's ${data.byteLength} bytes (truncated or not safetensors)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(data.subarray(8, 8 + hlen))) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`${source}: header is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  const body = data.subarray(8 + hlen);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!e || typeof e.dtype !== 'string' || !(e.dtype in ITEM) || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new SafetensorsError(`${source}: entry "${name}" is malformed`);
    }
    const [b, end] = e.data_offsets;
    const need = e.shape.reduce((a, d) => a * d, 1) * ITEM[e.dtype as SafeDType];
    if (end - b !== need) throw new SafetensorsError(`${source}: "${name}" spans ${end - b} bytes, its ${e.dtype}[${e.shape.join(', ')}] needs ${need}`);
    if (end > body.byteLength) throw new SafetensorsError(`${source}: "${name}" ends at byte ${end} of the data, which has only ${body.byteLength} (file truncated)`);
    tensors.set(name, { dtype: e.dtype as SafeDType, shape: e.shape, bytes: new Uint8Array(body.subarray(b, end)) });
  }
  return { tensors, metadata };
}

export function f32Bytes(a: Float32Array): Uint8Array {
  // Typed arrays are little-endian on every platform WebGPU runs on.
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

export function bytesToF32(b: Uint8Array): Float32Array {
  // `new Uint8Array(b)` always copies into a fresh buffer at offset 0; `slice()` would not
  // for a Node Buffer (its slice is a view into a shared pool).
  const copy = new Uint8Array(b);
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}
