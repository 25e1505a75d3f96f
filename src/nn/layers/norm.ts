import { instanceNorm3d, instanceNorm3dAdd, instanceNorm3dRelu } from '../../kernels/instance-norm.js';
import type { Shape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { constant, type InitOptions } from '../init.js';
import { Module } from '../module.js';

export interface InstanceNormOptions extends InitOptions {
  eps?: number;
  /** Learnable per-channel weight and bias (PyTorch's default is false; hnfnet's layers use true). */
  affine?: boolean;
}

/**
 * What the normalising pass may do after the affine transform (instance-norm.ts's fused
 * forms): + residual (x's shape), then ReLU. The same values as norm → add → relu, one
 * pass over memory instead of three.
 */
export interface NormEpilogue {
  residual?: Tensor | null;
  relu?: boolean;
}

/** torch.nn.InstanceNorm3d (no running statistics: instance statistics in train and eval), with an optional fused epilogue. */
export class InstanceNorm3d extends Module<[Tensor, NormEpilogue?], Tensor> {
  readonly eps: number;
  readonly affine: boolean;

  constructor(
    readonly numFeatures: number,
    opts: InstanceNormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.affine = opts.affine ?? true;
    if (this.affine) {
      this.registerParameter('weight', constant([numFeatures], 1, opts));
      this.registerParameter('bias', constant([numFeatures], 0, opts));
    }
  }

  forward(x: Tensor, epilogue: NormEpilogue = {}): Tensor {
    const w = this.affine ? this.param('weight') : null;
    const b = this.affine ? this.param('bias') : null;
    if (epilogue.residual) return instanceNorm3dAdd(x, epilogue.residual, w, b, this.eps, { relu: epilogue.relu ?? false });
    if (epilogue.relu) return instanceNorm3dRelu(x, w, b, this.eps);
    return instanceNorm3d(x, w, b, this.eps);
  }

  override macs(inputs: readonly Shape[]): number {
    // about two passes over the input (statistics, normalise-and-scale)
    return 2 * inputs[0]!.reduce((a, d) => a * d, 1);
  }
}
