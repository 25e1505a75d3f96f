import type { Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';
import { fmt } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';

/** Three per-axis integers [d, h, w] (nn's `Triple` also accepts one number for all three). */
export type Int3 = readonly [number, number, number];

export interface Conv3dKernelOptions {
  /** Stride per axis (D, H, W), or one number for all three. Default 1. */
  stride?: number | readonly number[];
  /** Zero padding per axis (D, H, W), added on both sides. Default 0. */
  padding?: number | readonly number[];
  /**
   * Which kernels to run: 'auto' (default) picks the tiling for the adapter; 'cpu' and
   * 'gpu' force one tiling (tests run both on any adapter); 'direct' runs the plain
   * one-output-per-invocation reference kernels; 'gemm' the implicit-GEMM kernels with
   * workgroup-shared tiles (conv3d-gemm.ts), shaped for GPUs.
   */
  variant?: Conv3dVariant;
}

export type Conv3dVariant = 'auto' | 'cpu' | 'gpu' | 'direct' | 'gemm';

/** Everything about one convolution that depends only on shapes and attributes. */
export interface ConvGeometry {
  n: number;
  ci: number;
  co: number;
  /** Input spatial size. */
  in: Int3;
  /** Kernel size. */
  k: Int3;
  stride: Int3;
  pad: Int3;
  /** Output spatial size. */
  out: Int3;
  hasBias: boolean;
  /** Element type of input, weight, bias and output (float16: inference storage, f32 accumulation). */
  dtype: DType;
}

function triple(v: number | readonly number[] | undefined, dflt: number, what: string, min: number): Int3 {
  const t = v === undefined ? [dflt, dflt, dflt] : typeof v === 'number' ? [v, v, v] : [...v];
  if (t.length !== 3 || !t.every((x) => Number.isInteger(x) && x >= min)) {
    throw new ShapeError(`conv3d: ${what} must be an integer >= ${min} or three of them, got ${JSON.stringify(v)}`);
  }
  return [t[0]!, t[1]!, t[2]!];
}

/** Validates shapes and attributes (PyTorch's F.conv3d rules) and computes the output size. */
export function convGeometry(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv3dKernelOptions): ConvGeometry {
  for (const t of bias ? [weight, bias] : [weight]) {
    if (t.dtype !== x.dtype) throw new ShapeError(`conv3d: input is ${x.dtype} and ${t === weight ? 'weight' : 'bias'} ${t.dtype}; convert the module with .to(dtype) or the input with x.to(dtype)`);
  }
  return convGeometryOf(x.shape, weight.shape, bias ? bias.shape : null, opts, x.dtype);
}

/** convGeometry from shapes alone (to plan or warm up kernels before any tensor exists). */
export function convGeometryOf(xShape: readonly number[], wShape: readonly number[], biasShape: readonly number[] | null, opts: Conv3dKernelOptions, dtype: DType = 'float32'): ConvGeometry {
  const both = `input ${fmt(xShape)} and weight ${fmt(wShape)}`;
  if (xShape.length !== 5) throw new ShapeError(`conv3d: input must be [N, Ci, D, H, W]; got ${both}`);
  if (wShape.length !== 5) throw new ShapeError(`conv3d: weight must be [Co, Ci, kd, kh, kw]; got ${both}`);
  const [n, ci, d, h, w] = xShape as [number, number, number, number, number];
  const [co, wci, kd, kh, kw] = wShape as [number, number, number, number, number];
  if (wci !== ci) throw new ShapeError(`conv3d: ${both} disagree on input channels (${ci} vs ${wci})`);
  if (kd < 1 || kh < 1 || kw < 1) throw new ShapeError(`conv3d: weight ${fmt(wShape)} has an empty kernel`);
  if (biasShape && (biasShape.length !== 1 || biasShape[0] !== co)) {
    throw new ShapeError(`conv3d: bias ${fmt(biasShape)} must be [${co}] for weight ${fmt(wShape)}`);
  }
  const stride = triple(opts.stride, 1, 'stride', 1);
  const pad = triple(opts.padding, 0, 'padding', 0);
  const k: Int3 = [kd, kh, kw];
  const inSize: Int3 = [d, h, w];
  const out = inSize.map((s, i) => Math.floor((s + 2 * pad[i]! - k[i]!) / stride[i]!) + 1) as unknown as Int3;
  if (out.some((o) => o <= 0)) {
    throw new ShapeError(
      `conv3d: ${both} with stride ${fmt(stride)} and padding ${fmt(pad)} give an empty output ${fmt(out)} ` +
        '(each padded input size must be at least the kernel size)',
    );
  }
  return { n, ci, co, in: inSize, k, stride, pad, out, hasBias: !!biasShape, dtype };
}

export const outShape = (g: ConvGeometry): number[] => [g.n, g.co, ...g.out];

export function describe(g: ConvGeometry): string {
  return `[${g.n}, ${g.ci}, ${g.in.join(', ')}] * [${g.co}, ${g.ci}, ${g.k.join(', ')}] stride ${fmt(g.stride)} pad ${fmt(g.pad)}`;
}

/** 2·Ci·Co·taps multiply-adds per output voxel: the FLOP count of one forward pass. */
export function convFlops(g: ConvGeometry): number {
  return 2 * g.n * g.ci * g.co * g.k[0] * g.k[1] * g.k[2] * g.out[0] * g.out[1] * g.out[2];
}
