import { instanceNorm3d } from '../../kernels/instance-norm.js';
import type { Shape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { constant, type InitOptions } from '../init.js';
import { Module } from '../module.js';

export interface InstanceNormOptions extends InitOptions {
  eps?: number;
  /** Learnable per-channel weight and bias (PyTorch's default is false; hnfnet's layers use true). */
  affine?: boolean;
}

/** torch.nn.InstanceNorm3d (no running statistics: instance statistics in train and eval). */
export class InstanceNorm3d extends Module {
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

  forward(x: Tensor): Tensor {
    return instanceNorm3d(x, this.affine ? this.param('weight') : null, this.affine ? this.param('bias') : null, this.eps);
  }

  override macs(inputs: readonly Shape[]): number {
    // about two passes over the input (statistics, normalise-and-scale)
    return 2 * inputs[0]!.reduce((a, d) => a * d, 1);
  }
}
