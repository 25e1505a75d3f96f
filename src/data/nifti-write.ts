/**
 * Volume → NIfTI-1 bytes (.nii, or .nii.gz through fflate), on a given grid. The grid's stored
 * fields (qform/sform codes, quaternion, qoffset, srow, all of pixdim, units) are copied as they
 * are, so a label map written on a source image's grid overlays it exactly in any viewer.
 */
import { DataError, fmtList } from './errors.js';
import { gzip } from './gzip.js';
import { DATATYPES } from './nifti-header.js';
import type { DatatypeName, NiftiGrid } from './volume.js';

/** A gzip compression level (fflate's). Named so that the API docs print it in one order. */
export type GzipLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

export interface EncodeNiftiOptions {
  datatype: DatatypeName;
  /** gzip the result (for .nii.gz); default true. */
  gzip?: boolean;
  /** fflate compression level; default 6. */
  level?: GzipLevel;
  /** Up to 79 ASCII characters for the header's descrip field. */
  description?: string;
  /** NIfTI intent code; default 0 (none). */
  intentCode?: number;
  /** Name for error messages; default "<output>". */
  name?: string;
}

const HEADER_BYTES = 352;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeNifti(data: ArrayLike<number>, grid: NiftiGrid, opts: EncodeNiftiOptions): Uint8Array {
  const name = opts.name ?? '<output>';
  const dt = DATATYPES[opts.datatype];
  const [X, Y, Z] = grid.dims;
  const count = X * Y * Z;
  if (data.length !== count) {
    throw new DataError(name, `has ${data.length} voxels but the grid ${fmtList(grid.dims)} needs ${count}`);
  }
  if (dt.integer) checkIntegers(data, dt.min, dt.max, dt.name, name);

  const out = new Uint8Array(HEADER_BYTES + count * dt.bytes);
  const v = new DataView(out.buffer);
  const le = true;
  v.setInt32(0, 348, le);
  const dim = [3, X, Y, Z, 1, 1, 1, 1];
  dim.forEach((d, i) => v.setInt16(40 + 2 * i, d, le));
  v.setInt16(68, opts.intentCode ?? 0, le);
  v.setInt16(70, dt.code, le);
  v.setInt16(72, dt.bytes * 8, le);
  for (let i = 0; i < 8; i++) v.setFloat32(76 + 4 * i, grid.pixdim[i] ?? 0, le);
  v.setFloat32(108, HEADER_BYTES, le);
  v.setFloat32(112, 1, le);
  v.setFloat32(116, 0, le);
  v.setUint8(123, grid.xyztUnits);
  writeAscii(out, 148, 80, opts.description ?? 'hnfnet');
  v.setInt16(252, grid.qformCode, le);
  v.setInt16(254, grid.sformCode, le);
  grid.quatern.forEach((q, i) => v.setFloat32(256 + 4 * i, q, le));
  grid.qoffset.forEach((q, i) => v.setFloat32(268 + 4 * i, q, le));
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) v.setFloat32(280 + (r * 4 + c) * 4, grid.srow[r]![c]!, le);
  writeAscii(out, 344, 4, 'n+1');
  // bytes 348..351 stay 0: no extensions.

  writeVoxels(out, v, data, opts.datatype, count);
  return opts.gzip === false ? out : gzip(out, opts.level ?? 6);
}

/** A uint8 label map (e.g. BraTS labels 0, 1, 2, 4) on `grid`. */
export function encodeLabelMap(labels: ArrayLike<number>, grid: NiftiGrid, opts: Omit<EncodeNiftiOptions, 'datatype'> = {}): Uint8Array {
  return encodeNifti(labels, grid, { ...opts, datatype: 'uint8' });
}

/** A float32 map (probabilities, logits, normalised images) on `grid`. */
export function encodeProbabilityMap(values: ArrayLike<number>, grid: NiftiGrid, opts: Omit<EncodeNiftiOptions, 'datatype'> = {}): Uint8Array {
  return encodeNifti(values, grid, { ...opts, datatype: 'float32' });
}

function checkIntegers(data: ArrayLike<number>, min: number, max: number, type: string, name: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!(x >= min && x <= max) || Math.floor(x) !== x) {
      throw new DataError(name, `voxel ${i} is ${x}, which ${type} cannot hold exactly (range ${min}..${max}, integers only); round or clip it first`);
    }
  }
}

function writeVoxels(out: Uint8Array, v: DataView, data: ArrayLike<number>, type: DatatypeName, count: number): void {
  const at = HEADER_BYTES;
  if (HOST_LITTLE_ENDIAN) {
    const buf = out.buffer;
    switch (type) {
      case 'uint8': out.set(data, at); return;
      case 'int8': new Int8Array(buf, at, count).set(data); return;
      case 'int16': new Int16Array(buf, at, count).set(data); return;
      case 'uint16': new Uint16Array(buf, at, count).set(data); return;
      case 'int32': new Int32Array(buf, at, count).set(data); return;
      case 'uint32': new Uint32Array(buf, at, count).set(data); return;
      case 'float32': new Float32Array(buf, at, count).set(data); return;
      case 'float64': new Float64Array(buf, at, count).set(data); return;
      default: break;
    }
  }
  for (let i = 0; i < count; i++) {
    const x = data[i]!;
    const o = at + i * DATATYPES[type].bytes;
    switch (type) {
      case 'uint8': v.setUint8(o, x); break;
      case 'int8': v.setInt8(o, x); break;
      case 'int16': v.setInt16(o, x, true); break;
      case 'uint16': v.setUint16(o, x, true); break;
      case 'int32': v.setInt32(o, x, true); break;
      case 'uint32': v.setUint32(o, x, true); break;
      case 'float32': v.setFloat32(o, x, true); break;
      case 'float64': v.setFloat64(o, x, true); break;
      case 'int64': v.setBigInt64(o, BigInt(x), true); break;
      case 'uint64': v.setBigUint64(o, BigInt(x), true); break;
    }
  }
}

function writeAscii(out: Uint8Array, at: number, room: number, s: string): void {
  const n = Math.min(s.length, room - 1);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out[at + i] = c < 128 ? c : 63;
  }
}
