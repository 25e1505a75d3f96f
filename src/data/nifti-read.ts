/**
 * NIfTI bytes → Volume, in any JS runtime. Node adds path-based wrappers in nifti-file.node.ts
 * (and a faster native gunzip); a browser passes a File or ArrayBuffer.
 */
import { bestAffine } from './affine.js';
import { DataError, fmtList } from './errors.js';
import { isGzip, type GunzipFn } from './gzip.js';
import { gunzipNifti } from './nifti-gzip.js';
import { DATATYPES, parseNiftiHeader, type DatatypeInfo } from './nifti-header.js';
import type { Dims3, Volume } from './volume.js';

/**
 * What to do with NaN / ±Inf voxels. 'warn' (the reader's default) keeps them, counts them in
 * `volume.nonFinite` and adds a warning, so `inspect` can show a damaged file as it is; 'zero'
 * replaces them with 0 (background) and warns; 'error' refuses the file. Loading a BraTS case
 * defaults to 'error', because one NaN in an input turns a whole training run's loss into NaN.
 */
export type NonFinitePolicy = 'warn' | 'zero' | 'error';

export interface ReadNiftiOptions {
  /** File name for messages; default "<nifti>". */
  name?: string;
  /** gzip inflater; default fflate with a CRC check, bounded by the header (`gunzipNifti`). Node passes zlib, which is ~2× faster. */
  gunzip?: GunzipFn;
  nonFinite?: NonFinitePolicy;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function readNifti(input: ArrayBuffer | Uint8Array, opts: ReadNiftiOptions = {}): Volume {
  const name = opts.name ?? '<nifti>';
  let bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  let compressed = false;
  if (isGzip(bytes)) {
    compressed = true;
    try {
      bytes = (opts.gunzip ?? gunzipNifti)(bytes);
    } catch (e) {
      throw new DataError(name, e instanceof Error ? e.message : String(e));
    }
  }
  const { header, grid, dataOffset, warnings } = parseNiftiHeader(bytes, name);
  const dt = DATATYPES[header.datatype];
  const dims = grid.dims;
  const count = dims[0] * dims[1] * dims[2];
  const need = count * dt.bytes;
  if (dataOffset + need > bytes.length) {
    const short = dataOffset + need - bytes.length;
    throw new DataError(
      name,
      `file is truncated: the header promises ${need} bytes of ${dt.name} voxels (dims ${fmtList(dims)}) from byte ${dataOffset}, ` +
        `but the ${compressed ? 'decompressed ' : ''}data ends at byte ${bytes.length} (${short} bytes short)`,
    );
  }
  const data = decodeVoxels(bytes, dataOffset, count, dt, header.littleEndian, header.scaled ? header.sclSlope : 1, header.scaled ? header.sclInter : 0);
  const nonFinite = handleNonFinite(data, dims, opts.nonFinite ?? 'warn', name, warnings, !dt.integer || header.scaled);
  return {
    name,
    data,
    dims: [...dims],
    spacing: [grid.pixdim[1]!, grid.pixdim[2]!, grid.pixdim[3]!],
    affine: bestAffine(grid).affine,
    grid,
    header,
    nonFinite,
    warnings,
  };
}

/** Reads a browser File (or any Blob); the file's name goes into messages. */
export async function readNiftiBlob(blob: Blob & { readonly name?: string }, opts: ReadNiftiOptions = {}): Promise<Volume> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  return readNifti(bytes, { ...opts, name: opts.name ?? blob.name ?? '<blob>' });
}

type IntView = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/**
 * Voxels to float32 (times slope plus intercept). Same-endian data is viewed in place when aligned;
 * otherwise the bytes are copied (and swapped) once into an aligned buffer and viewed there.
 */
function decodeVoxels(bytes: Uint8Array, offset: number, count: number, dt: DatatypeInfo, le: boolean, slope: number, inter: number): Float32Array {
  const size = dt.bytes;
  let buf: ArrayBufferLike = bytes.buffer;
  let at = bytes.byteOffset + offset;
  if (le !== HOST_LITTLE_ENDIAN && size > 1) {
    const copy = bytes.slice(offset, offset + count * size);
    for (let i = 0; i < copy.length; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = copy[a]!;
        copy[a] = copy[b]!;
        copy[b] = t;
      }
    }
    buf = copy.buffer;
    at = 0;
  } else if (at % size !== 0) {
    buf = bytes.slice(offset, offset + count * size).buffer;
    at = 0;
  }
  let src: IntView;
  switch (dt.name) {
    case 'uint8': src = new Uint8Array(buf, at, count); break;
    case 'int8': src = new Int8Array(buf, at, count); break;
    case 'int16': src = new Int16Array(buf, at, count); break;
    case 'uint16': src = new Uint16Array(buf, at, count); break;
    case 'int32': src = new Int32Array(buf, at, count); break;
    case 'uint32': src = new Uint32Array(buf, at, count); break;
    case 'float32': src = new Float32Array(buf, at, count); break;
    case 'float64': src = new Float64Array(buf, at, count); break;
    case 'int64':
    case 'uint64': {
      const big = dt.name === 'int64' ? new BigInt64Array(buf, at, count) : new BigUint64Array(buf, at, count);
      const f = new Float64Array(count);
      for (let i = 0; i < count; i++) f[i] = Number(big[i]!);
      src = f;
      break;
    }
  }
  if (slope === 1 && inter === 0) return new Float32Array(src);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = src[i]! * slope + inter;
  return out;
}

function handleNonFinite(data: Float32Array, dims: Dims3, policy: NonFinitePolicy, name: string, warnings: string[], possible: boolean): number {
  if (!possible) return 0;
  let count = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count === 0) return 0;
  const x = first % dims[0];
  const y = Math.floor(first / dims[0]) % dims[1];
  const z = Math.floor(first / (dims[0] * dims[1]));
  const what = `${count} voxel${count === 1 ? ' is' : 's are'} NaN or infinite (first at voxel [${x}, ${y}, ${z}])`;
  if (policy === 'error') throw new DataError(name, what);
  if (policy === 'zero') {
    for (let i = first; i < data.length; i++) if (data[i]! - data[i]! !== 0) data[i] = 0;
    warnings.push(`${what}; replaced with 0`);
  } else warnings.push(what);
  return count;
}
