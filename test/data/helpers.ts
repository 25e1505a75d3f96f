/**
 * Shared test helpers: where the real BraTS cases live, their facts.json, and an independent raw
 * NIfTI builder (plain DataView writes, not src/data's writer) for synthetic reader tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** shared/ sits beside the repository (as /work/shared beside /work/main, or in a CI clone); HNFNET_SHARED_BRATS overrides. */
export const SHARED_BRATS = resolve(process.env.HNFNET_SHARED_BRATS ?? resolve(REPO_ROOT, '../shared/data/brats'));
export const HAVE_SHARED = existsSync(join(SHARED_BRATS, 'Brats18_TCIA01_378_1', 'facts.json'));
export const SKIP_REASON = `skipped: real BraTS cases not found at ${SHARED_BRATS}`;
if (!HAVE_SHARED) console.warn(`[test/data] ${SKIP_REASON}`);

export const CASE_IDS = ['Brats18_TCIA01_378_1', 'Brats18_TCIA10_628_1'] as const;
export type CaseId = (typeof CASE_IDS)[number];

export interface FileFacts {
  file: string;
  shape: number[];
  datatype: string;
  nifti_datatype_code: number;
  bitpix: number;
  scl_slope: number | null;
  scl_inter: number | null;
  on_disk_header: { vox_offset: number; extensions: { ecode: number; esize_bytes_incl_8byte_head: number }[]; endianness: string; magic: string };
  pixdim: number[];
  dim: number[];
  xyzt_units: number;
  qform_code: number;
  sform_code: number;
  quatern_bcd: number[];
  qoffset_xyz: number[];
  qform_affine: number[][];
  sform_affine: number[][];
  nibabel_affine: number[][];
  voxels_total?: number;
  nonzero_voxels?: number;
  min_all?: number;
  max_all?: number;
  nonzero_min?: number;
  nonzero_max?: number;
  nonzero_mean?: number;
  nonzero_std_pop?: number;
  nonzero_p0_5_linear?: number;
  nonzero_p99_5_linear?: number;
  negative_voxels?: number;
  label_voxel_counts?: Record<string, number>;
  regions_voxel_counts?: Record<string, number>;
  tumor_bbox_voxel_index_min_inclusive?: number[];
  tumor_bbox_voxel_index_max_inclusive?: number[];
}

export interface CaseFacts {
  case_id: string;
  modalities: Record<'t1' | 't1ce' | 't2' | 'flair', FileFacts>;
  seg: FileFacts;
  brain_union_nonzero_voxels: number;
  brain_union_bbox_voxel_index_min_inclusive: number[];
  brain_union_bbox_voxel_index_max_inclusive: number[];
}

export function caseDir(id: CaseId): string {
  return join(SHARED_BRATS, id);
}

export function loadFacts(id: CaseId): CaseFacts {
  return JSON.parse(readFileSync(join(caseDir(id), 'facts.json'), 'utf8')) as CaseFacts;
}

/** Entry-wise closeness; toEqual would tell -0 from 0, and facts.json has -0.0 offsets. */
export function expectMatrixClose(actual: readonly (readonly number[])[], expected: readonly (readonly number[])[], tol = 1e-6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, r) => {
    expect(row.length).toBe(expected[r]!.length);
    row.forEach((v, c) => {
      const e = expected[r]![c]!;
      if (Math.abs(v - e) > tol) throw new Error(`matrix entry [${r}][${c}] is ${v}, expected ${e} (within ${tol})`);
    });
  });
}

export type RawType = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32' | 'float64' | 'int64' | 'uint64';
export const RAW_CODES: Record<RawType, [code: number, bytes: number]> = {
  uint8: [2, 1],
  int16: [4, 2],
  int32: [8, 4],
  float32: [16, 4],
  float64: [64, 8],
  int8: [256, 1],
  uint16: [512, 2],
  uint32: [768, 4],
  int64: [1024, 8],
  uint64: [1280, 8],
};

/** Values as raw voxel bytes of `type` in the given byte order. */
export function voxelBytes(values: readonly number[], type: RawType, littleEndian = true): Uint8Array {
  const size = RAW_CODES[type][1];
  const out = new Uint8Array(values.length * size);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => {
    const o = i * size;
    switch (type) {
      case 'uint8': v.setUint8(o, x); break;
      case 'int8': v.setInt8(o, x); break;
      case 'int16': v.setInt16(o, x, littleEndian); break;
      case 'uint16': v.setUint16(o, x, littleEndian); break;
      case 'int32': v.setInt32(o, x, littleEndian); break;
      case 'uint32': v.setUint32(o, x, littleEndian); break;
      case 'float32': v.setFloat32(o, x, littleEndian); break;
      case 'float64': v.setFloat64(o, x, littleEndian); break;
      case 'int64': v.setBigInt64(o, BigInt(x), littleEndian); break;
      case 'uint64': v.setBigUint64(o, BigInt(x), littleEndian); break;
    }
  });
  return out;
}

export interface RawNifti {
  version?: 1 | 2;
  littleEndian?: boolean;
  /** dim[0..] (padded with 1 to eight entries). */
  dim: number[];
  datatype: number;
  bitpix: number;
  pixdim?: number[];
  /** Default: header + 4 + extension bytes. */
  voxOffset?: number;
  sclSlope?: number;
  sclInter?: number;
  qformCode?: number;
  sformCode?: number;
  quatern?: number[];
  qoffset?: number[];
  srow?: number[][];
  xyztUnits?: number;
  extensions?: { ecode: number; data: Uint8Array; esize?: number }[];
  magic?: string;
  data: Uint8Array;
}

/** A NIfTI-1 or NIfTI-2 file written field by field from the standard's byte offsets. */
export function buildNifti(spec: RawNifti): Uint8Array {
  const v2 = spec.version === 2;
  const le = spec.littleEndian ?? true;
  const hdr = v2 ? 540 : 348;
  const exts = spec.extensions ?? [];
  const extBytes = exts.map((e) => {
    const esize = e.esize ?? Math.ceil((e.data.length + 8) / 16) * 16;
    const b = new Uint8Array(Math.max(esize, 8));
    const dv = new DataView(b.buffer);
    dv.setInt32(0, esize, le);
    dv.setInt32(4, e.ecode, le);
    b.set(e.data.subarray(0, Math.max(0, b.length - 8)), 8);
    return b;
  });
  const extTotal = extBytes.reduce((s, b) => s + b.length, 0);
  const voxOffset = spec.voxOffset ?? hdr + 4 + extTotal;
  const out = new Uint8Array(Math.max(voxOffset, hdr + 4 + extTotal) + spec.data.length);
  const dv = new DataView(out.buffer);
  const dim = [...spec.dim];
  while (dim.length < 8) dim.push(1);
  const pixdim = spec.pixdim ?? [1, 1, 1, 1, 1, 1, 1, 1];
  const q = spec.quatern ?? [0, 0, 0];
  const qo = spec.qoffset ?? [0, 0, 0];
  const srow = spec.srow ?? [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]];
  const ascii = (at: number, s: string) => [...s].forEach((c, i) => (out[at + i] = c.charCodeAt(0)));
  if (!v2) {
    dv.setInt32(0, 348, le);
    dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
    dv.setInt16(70, spec.datatype, le);
    dv.setInt16(72, spec.bitpix, le);
    pixdim.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
    dv.setFloat32(108, voxOffset, le);
    dv.setFloat32(112, spec.sclSlope ?? 0, le);
    dv.setFloat32(116, spec.sclInter ?? 0, le);
    dv.setUint8(123, spec.xyztUnits ?? 2);
    dv.setInt16(252, spec.qformCode ?? 0, le);
    dv.setInt16(254, spec.sformCode ?? 0, le);
    q.forEach((x, i) => dv.setFloat32(256 + 4 * i, x, le));
    qo.forEach((x, i) => dv.setFloat32(268 + 4 * i, x, le));
    srow.forEach((r, ri) => r.forEach((x, ci) => dv.setFloat32(280 + (ri * 4 + ci) * 4, x, le)));
    ascii(344, spec.magic ?? 'n+1\0');
  } else {
    dv.setInt32(0, 540, le);
    ascii(4, spec.magic ?? 'n+2\0\r\n\x1a\n');
    dv.setInt16(12, spec.datatype, le);
    dv.setInt16(14, spec.bitpix, le);
    dim.forEach((d, i) => dv.setBigInt64(16 + 8 * i, BigInt(d), le));
    pixdim.forEach((p, i) => dv.setFloat64(104 + 8 * i, p, le));
    dv.setBigInt64(168, BigInt(voxOffset), le);
    dv.setFloat64(176, spec.sclSlope ?? 0, le);
    dv.setFloat64(184, spec.sclInter ?? 0, le);
    dv.setInt32(344, spec.qformCode ?? 0, le);
    dv.setInt32(348, spec.sformCode ?? 0, le);
    q.forEach((x, i) => dv.setFloat64(352 + 8 * i, x, le));
    qo.forEach((x, i) => dv.setFloat64(376 + 8 * i, x, le));
    srow.forEach((r, ri) => r.forEach((x, ci) => dv.setFloat64(400 + (ri * 4 + ci) * 8, x, le)));
    dv.setInt32(500, spec.xyztUnits ?? 2, le);
  }
  if (exts.length > 0) out[hdr] = 1;
  let at = hdr + 4;
  for (const b of extBytes) {
    out.set(b, at);
    at += b.length;
  }
  out.set(spec.data, voxOffset);
  return out;
}
