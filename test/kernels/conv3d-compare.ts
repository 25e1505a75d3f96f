/**
 * The one comparison the conv3d and GEMM suites make against the host reference. Kept apart
 * from conv3d-ref.ts, which the browser suite bundles and which must stay free of Node.
 */
import { expectClose } from '../helpers.js';

/** One convolution's output and gradients, as a test compares them with the reference's. */
export interface ConvResult {
  y: Float32Array;
  gx: Float32Array;
  gw: Float32Array;
  gb: Float32Array | null;
}

/**
 * Output and input gradient within `tol`; weight and bias gradients, which sum over every
 * voxel (larger magnitudes, summed in other orders), within 10× that absolutely.
 */
export function compareConv(got: ConvResult, want: ConvResult, what: string, tol = 1e-4): void {
  expectClose(got.y, want.y, tol, tol, `${what}: y`);
  expectClose(got.gx, want.gx, tol, tol, `${what}: grad x`);
  expectClose(got.gw, want.gw, tol, tol * 10, `${what}: grad weight`);
  if (want.gb) expectClose(got.gb!, want.gb, tol, tol * 10, `${what}: grad bias`);
}
