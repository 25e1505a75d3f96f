/**
 * NIfTI's three ways to place voxels in the world, and the way back from an affine to header
 * fields. Uses gl-matrix with Float64Array storage: its default Float32Array would round the
 * matrices that the header stores as float64 (NIfTI-2) or that we derive from float32 fields.
 */
import { mat3, mat4, quat } from 'gl-matrix';
import type { Affine, Dims3, NiftiGrid, Row4 } from './volume.js';

/** Column-major Float64Array (gl-matrix layout) to rows. */
export function affineFromGl(m: ArrayLike<number>): Affine {
  const row = (r: number): Row4 => [m[r]!, m[4 + r]!, m[8 + r]!, m[12 + r]!];
  return [row(0), row(1), row(2), [0, 0, 0, 1]];
}

export function affineToGl(a: Affine): Float64Array {
  const m = new Float64Array(16);
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) m[c * 4 + r] = a[r]![c]!;
  return m;
}

export function identityAffine(): Affine {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

/**
 * NIfTI method 2 (qform): R(quaternion) · diag(dx, dy, qfac·dz) plus qoffset, as nifti1_io computes
 * it: a non-positive spacing counts as 1, and a quaternion whose b,c,d already have norm ~1 gets a = 0.
 */
export function qformAffine(grid: NiftiGrid): Affine {
  let [b, c, d] = grid.quatern;
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    const s = 1 / Math.sqrt(b * b + c * c + d * d);
    b *= s;
    c *= s;
    d *= s;
    a = 0;
  } else a = Math.sqrt(a);
  const qfac = grid.pixdim[0]! < 0 ? -1 : 1;
  const m = new Float64Array(16);
  const q = new Float64Array([b, c, d, a]);
  mat4.fromRotationTranslationScale(m, q, grid.qoffset, [sp(grid.pixdim[1]), sp(grid.pixdim[2]), qfac * sp(grid.pixdim[3])]);
  return affineFromGl(m);
}

/** A voxel size as the affines use it: a non-positive or non-finite pixdim counts as 1 (nifti1_io's rule). */
export function usableSpacing(v: number | undefined): number {
  return v !== undefined && v > 0 && Number.isFinite(v) ? v : 1;
}
const sp = usableSpacing;

/** Whether the sform can map voxels to the world: all finite, and its 3×3 part not singular (not all zero). */
export function sformUsable(grid: NiftiGrid): boolean {
  const [x, y, z] = grid.srow;
  if (![...x, ...y, ...z].every(Number.isFinite)) return false;
  const det = x[0]! * (y[1]! * z[2]! - y[2]! * z[1]!) - x[1]! * (y[0]! * z[2]! - y[2]! * z[0]!) + x[2]! * (y[0]! * z[1]! - y[1]! * z[0]!);
  return det !== 0;
}

/** NIfTI method 3 (sform): the srow vectors as stored. */
export function sformAffine(grid: NiftiGrid): Affine {
  const [x, y, z] = grid.srow;
  return [[...x], [...y], [...z], [0, 0, 0, 1]];
}

/** NIfTI method 1 (no codes): scaling by pixdim, origin at voxel 0 (nibabel instead centres an Analyze-style affine). */
export function pixdimAffine(grid: NiftiGrid): Affine {
  const a = identityAffine();
  for (let i = 0; i < 3; i++) a[i]![i] = sp(grid.pixdim[i + 1]);
  return a;
}

export type AffineSource = 'sform' | 'qform' | 'pixdim';

/**
 * The standard precedence (as nibabel and most viewers apply it): sform if sform_code > 0, else
 * qform if qform_code > 0, else pixdim. An sform that cannot be one (all zero, non-finite) is passed
 * over; the header reader warns about it.
 */
export function bestAffine(grid: NiftiGrid): { affine: Affine; source: AffineSource } {
  if (grid.sformCode > 0 && sformUsable(grid)) return { affine: sformAffine(grid), source: 'sform' };
  if (grid.qformCode > 0) return { affine: qformAffine(grid), source: 'qform' };
  return { affine: pixdimAffine(grid), source: 'pixdim' };
}

/** World coordinates (mm) of voxel [i, j, k]. */
export function voxelToWorld(a: Affine, ijk: readonly [number, number, number]): [number, number, number] {
  const [i, j, k] = ijk;
  return [0, 1, 2].map((r) => a[r]![0] * i + a[r]![1] * j + a[r]![2] * k + a[r]![3]) as [number, number, number];
}

export interface GridFromAffineOptions {
  qformCode?: number;
  sformCode?: number;
  /** NIfTI xyzt_units; default 2 (millimetres). */
  xyztUnits?: number;
}

/**
 * Header fields for a new image with this affine: srow is the affine itself, and the qform is the
 * closest rotation + spacing + qfac (nifti_mat44_to_quatern's recipe, without its polar
 * orthogonalisation: for a sheared affine only the sform is exact).
 */
export function gridFromAffine(affine: Affine, dims: Dims3, opts: GridFromAffineOptions = {}): NiftiGrid {
  const col = (j: number) => [affine[0][j]!, affine[1][j]!, affine[2][j]!];
  const cols = [col(0), col(1), col(2)];
  const spacing = cols.map((v) => Math.hypot(v[0]!, v[1]!, v[2]!) || 1);
  const m = new Float64Array(9);
  for (let j = 0; j < 3; j++) for (let i = 0; i < 3; i++) m[j * 3 + i] = cols[j]![i]! / spacing[j]!;
  let qfac = 1;
  if (mat3.determinant(m) < 0) {
    qfac = -1;
    for (let i = 0; i < 3; i++) m[6 + i] = -m[6 + i]!;
  }
  const q = new Float64Array(4);
  quat.fromMat3(q, m);
  quat.normalize(q, q);
  if (q[3]! < 0) for (let i = 0; i < 4; i++) q[i] = -q[i]!;
  return {
    dims: [...dims],
    pixdim: [qfac, spacing[0]!, spacing[1]!, spacing[2]!, 1, 1, 1, 1],
    xyztUnits: opts.xyztUnits ?? 2,
    qformCode: opts.qformCode ?? 1,
    sformCode: opts.sformCode ?? 1,
    quatern: [clean(q[0]!), clean(q[1]!), clean(q[2]!)],
    qoffset: [affine[0][3], affine[1][3], affine[2][3]],
    srow: [[...affine[0]], [...affine[1]], [...affine[2]]],
  };
}

/** Rounding noise from the quaternion extraction would otherwise leave 1e-17 where the header should say 0. */
function clean(v: number): number {
  return Math.abs(v) < 1e-12 ? 0 : v;
}
