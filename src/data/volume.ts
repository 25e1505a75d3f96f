/**
 * The in-memory volume. Voxels are float32 in NIfTI's native order, x fastest:
 * index = x + X * (y + Y * z) for dims [X, Y, Z].
 *
 * Tensor layout: read as a row-major array of shape [D, H, W] with D = Z, H = Y, W = X, the very
 * same memory is the [D, H, W] (and, per channel, [C, D, H, W]) layout that src/tensor uses, so
 * volumes go to the GPU without a transpose. Everything in src/data that takes a size or a box
 * takes it in [x, y, z] order, like the dims; a batch's shape is [B, C, Z, Y, X].
 */

export type Dims3 = [number, number, number];
export type Row4 = [number, number, number, number];
/** A 4×4 matrix as rows; maps voxel [i, j, k, 1] to world (scanner) millimetres. */
export type Affine = [Row4, Row4, Row4, Row4];

export type DatatypeName = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'int64' | 'uint64';

/**
 * What it takes to write another image that viewers overlay exactly on this one: the header's own
 * spatial fields, kept as stored (not just the derived affine), so qform and sform survive.
 */
export interface NiftiGrid {
  dims: Dims3;
  /** All eight pixdim entries as stored; pixdim[0] is qfac (−1 or 1). */
  pixdim: number[];
  xyztUnits: number;
  qformCode: number;
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d. */
  quatern: [number, number, number];
  /** qoffset_x, qoffset_y, qoffset_z. */
  qoffset: [number, number, number];
  /** srow_x, srow_y, srow_z. */
  srow: [Row4, Row4, Row4];
}

export interface NiftiExtensionInfo {
  ecode: number;
  /** Bytes including the 8-byte esize/ecode head, as stored. */
  esize: number;
}

/** Header facts that are not part of the grid, kept for inspection and messages. */
export interface NiftiHeaderInfo {
  version: 1 | 2;
  littleEndian: boolean;
  datatype: DatatypeName;
  datatypeCode: number;
  bitpix: number;
  voxOffset: number;
  /** The stored scl_slope / scl_inter; `scaled` says whether they were applied (slope 0 or non-finite means none). */
  sclSlope: number;
  sclInter: number;
  scaled: boolean;
  /** All eight dim entries as stored. */
  dim: number[];
  intentCode: number;
  dimInfo: number;
  sliceCode: number;
  calMin: number;
  calMax: number;
  description: string;
  magic: string;
  extensions: NiftiExtensionInfo[];
}

export interface Volume {
  /** File name or label used in messages. */
  name: string;
  data: Float32Array;
  dims: Dims3;
  /** Voxel spacing along x, y, z (pixdim[1..3]). */
  spacing: Dims3;
  /** The voxel-to-world affine chosen by NIfTI's precedence: sform, else qform, else pixdim scaling. */
  affine: Affine;
  grid: NiftiGrid;
  header: NiftiHeaderInfo;
  /** Count of NaN and ±Inf voxels (after scaling). */
  nonFinite: number;
  warnings: string[];
}

export function voxelCount(dims: Readonly<Dims3>): number {
  return dims[0] * dims[1] * dims[2];
}

export function voxelIndex(dims: Readonly<Dims3>, x: number, y: number, z: number): number {
  return x + dims[0] * (y + dims[1] * z);
}

export function sameDims(a: Readonly<Dims3>, b: Readonly<Dims3>): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
}

/** Largest absolute difference between two affines' entries. */
export function affineDistance(a: Affine, b: Affine): number {
  let d = 0;
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) d = Math.max(d, Math.abs(a[r]![c]! - b[r]![c]!));
  return d;
}

export function fmtAffine(a: Affine): string {
  return '[' + a.slice(0, 3).map((r) => '[' + r.map((v) => +v.toFixed(4)).join(', ') + ']').join(', ') + ']';
}

/** Float32Array, Uint8Array and the other typed arrays a voxel buffer may be. */
export type VoxelArray = Float32Array | Float64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
