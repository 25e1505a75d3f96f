/**
 * How far a gzipped NIfTI may inflate: to what its header says the file holds (header, extensions
 * and voxels), plus a little. A small file that inflates to gigabytes (damaged, or a
 * decompression bomb) is then refused instead of filling memory. Shared by the browser's fflate
 * reader (`gunzipNifti`) and Node's zlib one (`nodeGunzip`).
 */
import { gunzipChecked, type InflateBound } from './gzip.js';
import { DATATYPES, parseNiftiHeader } from './nifti-header.js';

/** What a NIfTI stream may inflate to beyond what its header needs (writers add nothing there; room for odd ones). */
export const INFLATE_SLACK = 1 << 20;

/**
 * The bound the NIfTI header at the start of `head` implies, or null when `head` does not start
 * with one (the reader then says what is wrong with the file).
 */
export function niftiInflateBound(head: Uint8Array): InflateBound | null {
  let need: number;
  try {
    const { header, grid, dataOffset } = parseNiftiHeader(head, 'gzip');
    need = dataOffset + grid.dims[0] * grid.dims[1] * grid.dims[2] * DATATYPES[header.datatype].bytes;
  } catch {
    return null;
  }
  return { maxBytes: need + INFLATE_SLACK, message: `gzip stream inflates to more than the ${need} bytes its NIfTI header needs (damaged, or a decompression bomb); not read further` };
}

/** fflate's gunzip (trailer checked) bounded by the NIfTI header: the reader's default outside Node. */
export function gunzipNifti(bytes: Uint8Array): Uint8Array {
  return gunzipChecked(bytes, { bound: niftiInflateBound });
}
