/**
 * What the conv3d and GEMM suites share: one convolution run forward and backward on the
 * device, the host reference's result for the same operands, and the comparison of the two.
 * Kept apart from conv3d-ref.ts, which the browser suite bundles and which must stay free of Node.
 */
import { backward, tensor, type Device, type Tensor } from '../../src/index.js';
import { expectClose } from '../helpers.js';
import { refConv3d, refConv3dGrads, type RefConv } from './conv3d-ref.js';

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

/** Forward and backward through `fn` (autograd) on the operands of `rc`, with upstream gradient `gyh`. */
export async function runConv(rc: RefConv, gyh: Float32Array, fn: (x: Tensor, w: Tensor, b: Tensor | null) => Tensor, device?: Device): Promise<ConvResult> {
  const x = tensor(rc.x, rc.xShape, { requiresGrad: true, device });
  const w = tensor(rc.w, rc.wShape, { requiresGrad: true, device });
  const b = rc.b ? tensor(rc.b, [rc.wShape[0]!], { requiresGrad: true, device }) : null;
  const y = fn(x, w, b);
  const gy = tensor(gyh, y.shape, { device });
  backward(y, gy);
  const out: ConvResult = { y: await y.data(), gx: await x.grad!.data(), gw: await w.grad!.data(), gb: b ? await b.grad!.data() : null };
  for (const t of [x, w, b, y, gy]) {
    t?.zeroGrad();
    t?.dispose();
  }
  return out;
}

/** The host reference's output and gradients for the same operands. */
export function referenceConv(rc: RefConv, gyh: Float32Array): ConvResult {
  const g = refConv3dGrads(rc, gyh);
  return { y: refConv3d(rc), gx: g.gx, gw: g.gw, gb: rc.b ? g.gb : null };
}
