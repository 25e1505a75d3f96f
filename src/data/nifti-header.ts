/**
 * NIfTI-1/-2 header parsing and validation. nifti-reader-js decodes the fields; this file decides
 * what they mean (datatype table, vox_offset rules, which dims are allowed) and refuses what would
 * otherwise be read wrongly, with an error that names the file.
 */
import { NIFTI1, NIFTI2 } from 'nifti-reader-js';
import { sformUsable } from './affine.js';
import { DataError, fmtList } from './errors.js';
import type { DatatypeName, Dims3, NiftiGrid, NiftiHeaderInfo, Row4 } from './volume.js';

export interface DatatypeInfo {
  name: DatatypeName;
  code: number;
  bytes: number;
  integer: boolean;
  /** Representable range, for checks when writing. */
  min: number;
  max: number;
}

export const DATATYPES: Readonly<Record<DatatypeName, DatatypeInfo>> = {
  uint8: { name: 'uint8', code: 2, bytes: 1, integer: true, min: 0, max: 255 },
  int16: { name: 'int16', code: 4, bytes: 2, integer: true, min: -32768, max: 32767 },
  int32: { name: 'int32', code: 8, bytes: 4, integer: true, min: -2147483648, max: 2147483647 },
  float32: { name: 'float32', code: 16, bytes: 4, integer: false, min: -3.4028234663852886e38, max: 3.4028234663852886e38 },
  float64: { name: 'float64', code: 64, bytes: 8, integer: false, min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
  int8: { name: 'int8', code: 256, bytes: 1, integer: true, min: -128, max: 127 },
  uint16: { name: 'uint16', code: 512, bytes: 2, integer: true, min: 0, max: 65535 },
  uint32: { name: 'uint32', code: 768, bytes: 4, integer: true, min: 0, max: 4294967295 },
  int64: { name: 'int64', code: 1024, bytes: 8, integer: true, min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  uint64: { name: 'uint64', code: 1280, bytes: 8, integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
};

/** Codes that are valid NIfTI but that a scalar float32 volume cannot hold. */
const UNSUPPORTED_DATATYPES: Readonly<Record<number, string>> = {
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'rgb24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

export function datatypeByCode(code: number): DatatypeInfo | undefined {
  for (const d of Object.values(DATATYPES)) if (d.code === code) return d;
  return undefined;
}

export interface ParsedHeader {
  header: NiftiHeaderInfo;
  grid: NiftiGrid;
  /** The byte offset voxel data actually starts at (vox_offset, or the minimum when the file says less). */
  dataOffset: number;
  warnings: string[];
}

const NIFTI1_SIZE = 348;
const NIFTI2_SIZE = 540;

/**
 * Parses and validates the header of an uncompressed NIfTI byte stream. Checks everything that
 * decides how voxels are read: version, endianness, magic, dims, datatype, vox_offset.
 */
export function parseNiftiHeader(bytes: Uint8Array, name: string): ParsedHeader {
  const n = bytes.length;
  if (n < 4) throw new DataError(name, `only ${n} bytes: too short to be a NIfTI file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let version: 1 | 2;
  let le: boolean;
  const sizeLE = dv.getInt32(0, true);
  const sizeBE = dv.getInt32(0, false);
  if (sizeLE === NIFTI1_SIZE || sizeBE === NIFTI1_SIZE) [version, le] = [1, sizeLE === NIFTI1_SIZE];
  else if (sizeLE === NIFTI2_SIZE || sizeBE === NIFTI2_SIZE) [version, le] = [2, sizeLE === NIFTI2_SIZE];
  else throw new DataError(name, `not a NIfTI file: sizeof_hdr is ${sizeLE} (expected 348 for NIfTI-1 or 540 for NIfTI-2)`);

  const hdrSize = version === 1 ? NIFTI1_SIZE : NIFTI2_SIZE;
  if (n < hdrSize) throw new DataError(name, `file is truncated: ${n} bytes, shorter than the ${hdrSize}-byte NIfTI-${version} header`);
  checkMagic(bytes, version, name);

  const warnings: string[] = [];
  const minOffset = hdrSize + 4;
  const rawOffset = version === 1 ? dv.getFloat32(108, le) : int64(dv, 168, le);
  // Hand the library only the header and its extensions: it wants a standalone ArrayBuffer, and
  // copying the voxels (or a Node pool buffer) just to parse 352 bytes would be waste.
  const headerEnd = Math.min(n, Number.isFinite(rawOffset) ? Math.max(minOffset, Math.ceil(rawOffset)) : minOffset);
  let lib: NIFTI1 | NIFTI2 = version === 1 ? new NIFTI1() : new NIFTI2();
  try {
    lib.readHeader(bytes.slice(0, headerEnd).buffer);
  } catch (e) {
    // The extensions are opaque metadata; vox_offset alone says where the voxels are, so a broken
    // extension chain is reported but does not stop the read.
    warnings.push(`header extensions are malformed (${e instanceof Error ? e.message : String(e)}); ignored`);
    lib = version === 1 ? new NIFTI1() : new NIFTI2();
    lib.readHeader(bytes.slice(0, hdrSize).buffer);
    lib.extensions = [];
  }

  const dim = lib.dims.slice(0, 8).map(Number);
  const dim0 = dim[0]!;
  if (!(dim0 >= 1 && dim0 <= 7)) throw new DataError(name, `dim[0] is ${dim0}; it must be 1 to 7 (dims ${fmtList(dim)})`);
  const used = dim.slice(1, dim0 + 1);
  for (let i = 1; i <= dim0; i++) {
    if (!(dim[i]! >= 1)) throw new DataError(name, `dim[${i}] is ${dim[i]}: every dimension must be at least 1 (dims ${fmtList(used)})`);
  }
  for (let i = 4; i <= dim0; i++) {
    if (dim[i]! > 1) throw new DataError(name, `has ${dim[i]} entries along dim[${i}] (dims ${fmtList(used)}): only 3D volumes are supported`);
  }
  const dims: Dims3 = [dim[1]!, dim0 >= 2 ? dim[2]! : 1, dim0 >= 3 ? dim[3]! : 1];

  const code = lib.datatypeCode;
  const dt = datatypeByCode(code);
  if (!dt) {
    const known = UNSUPPORTED_DATATYPES[code];
    const supported = Object.keys(DATATYPES).join(', ');
    if (known) throw new DataError(name, `datatype ${known} (code ${code}) is not supported (supported: ${supported})`);
    throw new DataError(name, `unknown datatype code ${code} (supported: ${supported})`);
  }
  if (lib.numBitsPerVoxel !== dt.bytes * 8) {
    warnings.push(`bitpix ${lib.numBitsPerVoxel} disagrees with datatype ${dt.name} (${dt.bytes * 8} bits); the datatype is used`);
  }

  const voxOffset = lib.vox_offset;
  if (!Number.isFinite(voxOffset) || voxOffset < 0 || !Number.isInteger(voxOffset)) {
    throw new DataError(name, `vox_offset ${voxOffset} is not a whole, non-negative number of bytes`);
  }
  let dataOffset = voxOffset;
  if (voxOffset < minOffset) {
    warnings.push(`vox_offset ${voxOffset} is inside the header; reading voxels from byte ${minOffset}`);
    dataOffset = minOffset;
  }

  const slope = lib.scl_slope;
  let inter = lib.scl_inter;
  const slopeUsable = Number.isFinite(slope) && slope !== 0;
  if (slopeUsable && !Number.isFinite(inter)) {
    warnings.push(`scl_inter is ${inter}; using 0`);
    inter = 0;
  }
  const scaled = slopeUsable && !(slope === 1 && inter === 0);

  const pixdim = lib.pixDims.slice(0, 8).map(Number);
  while (pixdim.length < 8) pixdim.push(0);
  for (let i = 1; i <= Math.min(3, dim0); i++) {
    if (!(pixdim[i]! > 0) || !Number.isFinite(pixdim[i]!)) warnings.push(`pixdim[${i}] is ${pixdim[i]}; the affine treats it as 1`);
  }

  const srow = readSrow(dv, version, le);
  const grid: NiftiGrid = {
    dims,
    pixdim,
    xyztUnits: lib.xyzt_units,
    qformCode: lib.qform_code,
    sformCode: lib.sform_code,
    quatern: [lib.quatern_b, lib.quatern_c, lib.quatern_d],
    qoffset: [lib.qoffset_x, lib.qoffset_y, lib.qoffset_z],
    srow,
  };
  if (grid.sformCode > 0 && !sformUsable(grid)) {
    warnings.push(`sform_code is ${grid.sformCode} but the sform is singular or not finite (all zero?); using the ${grid.qformCode > 0 ? 'qform' : 'pixdim scaling'} instead`);
  }
  const header: NiftiHeaderInfo = {
    version,
    littleEndian: le,
    datatype: dt.name,
    datatypeCode: code,
    bitpix: lib.numBitsPerVoxel,
    voxOffset,
    sclSlope: slope,
    sclInter: inter,
    scaled,
    dim,
    intentCode: lib.intent_code,
    dimInfo: lib.dim_info,
    sliceCode: lib.slice_code,
    calMin: lib.cal_min,
    calMax: lib.cal_max,
    description: lib.description,
    magic: lib.magic,
    extensions: lib.extensions.map((e) => ({ ecode: e.ecode, esize: e.esize })),
  };
  return { header, grid, dataOffset, warnings };
}

function checkMagic(bytes: Uint8Array, version: 1 | 2, name: string): void {
  const at = version === 1 ? 344 : 4;
  const m = String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!);
  const want = version === 1 ? 'n+1' : 'n+2';
  if (m === want) return;
  if (m === (version === 1 ? 'ni1' : 'ni2')) {
    throw new DataError(name, `is the header of a .hdr/.img pair (magic "${m}"); only single-file .nii / .nii.gz is supported`);
  }
  throw new DataError(name, `bad NIfTI-${version} magic ${JSON.stringify(m)} at byte ${at} (expected "${want}")`);
}

function readSrow(dv: DataView, version: 1 | 2, le: boolean): [Row4, Row4, Row4] {
  const row = (r: number): Row4 => {
    const out: number[] = [];
    for (let c = 0; c < 4; c++) out.push(version === 1 ? dv.getFloat32(280 + (r * 4 + c) * 4, le) : dv.getFloat64(400 + (r * 4 + c) * 8, le));
    return out as Row4;
  };
  return [row(0), row(1), row(2)];
}

function int64(dv: DataView, at: number, le: boolean): number {
  return Number(dv.getBigInt64(at, le));
}
