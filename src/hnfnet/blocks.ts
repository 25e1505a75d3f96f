/**
 * The building blocks shared by HNF-Net and the 3D U-Net: conv → norm → ReLU, and the
 * residual block of the PMF branches. Forward passes run their ops through `pipe`, which frees
 * every intermediate as soon as the next op has consumed it; autograd keeps its own references
 * to what it needs. The norm's tail (ReLU, + identity → ReLU) runs fused in the normalising
 * pass (NormEpilogue), which computes the same values as the separate ops with fewer passes
 * over memory.
 */
import { add } from '../kernels/broadcast.js';
import { relu } from '../kernels/unary.js';
import { Conv3d } from '../nn/layers/conv.js';
import { InstanceNorm3d, type NormEpilogue } from '../nn/layers/norm.js';
import { Module } from '../nn/module.js';
import { pipe } from '../tensor/scope.js';
import type { Device } from '../tensor/device.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { NormConfig } from './config.js';
import type { IntraScaleSDE } from './sde.js';

/** What every layer constructor needs: one seeded generator drawn in construction order, so a seed fixes all weights. */
export interface BuildContext {
  generator: Generator;
  device?: Device;
  norm: NormConfig;
}

export function conv(ctx: BuildContext, inCh: number, outCh: number, kernel: number, opts: { stride?: number; bias?: boolean } = {}): Conv3d {
  return new Conv3d(inCh, outCh, kernel, {
    stride: opts.stride ?? 1,
    padding: (kernel - 1) / 2,
    bias: opts.bias ?? false,
    // He init suits the ReLU nets here; with kaiming the Conv3d zeroes biases.
    init: 'kaiming_normal',
    generator: ctx.generator,
    ...(ctx.device ? { device: ctx.device } : {}),
  });
}

export function norm(ctx: BuildContext, channels: number): InstanceNorm3d {
  return new InstanceNorm3d(channels, { affine: ctx.norm.affine, eps: ctx.norm.eps, ...(ctx.device ? { device: ctx.device } : {}) });
}

/** conv (no bias: the norm's shift makes it redundant) → instance norm → optional ReLU. */
export class ConvNormAct extends Module<[Tensor, NormEpilogue?], Tensor> {
  readonly conv: Conv3d;
  readonly norm: InstanceNorm3d;
  readonly act: boolean;

  constructor(
    ctx: BuildContext,
    inCh: number,
    outCh: number,
    kernel: number,
    opts: { stride?: number; act?: boolean } = {},
  ) {
    super();
    this.act = opts.act ?? true;
    this.conv = this.registerModule('conv', conv(ctx, inCh, outCh, kernel, { stride: opts.stride ?? 1 }));
    this.norm = this.registerModule('norm', norm(ctx, outCh));
  }

  /** `epilogue` replaces the block's own ReLU (a fusion's sum adds its residual here, see pmf.ts). */
  forward(x: Tensor, epilogue: NormEpilogue = { relu: this.act }): Tensor {
    return pipe(x, (t) => this.conv.call(t), (t) => this.norm.call(t, epilogue));
  }
}

/**
 * HRNet's basic block: 3³ conv → norm → ReLU → 3³ conv → norm → (intra-scale SDE) → + x →
 * ReLU. The SDE sits where SE-ResNet puts its squeeze-excitation: on the residual branch,
 * before the addition.
 */
export class ResidualBlock extends Module {
  readonly conv1: Conv3d;
  readonly norm1: InstanceNorm3d;
  readonly conv2: Conv3d;
  readonly norm2: InstanceNorm3d;
  readonly se: IntraScaleSDE | null;

  constructor(ctx: BuildContext, channels: number, se: IntraScaleSDE | null) {
    super();
    this.conv1 = this.registerModule('conv1', conv(ctx, channels, channels, 3));
    this.norm1 = this.registerModule('norm1', norm(ctx, channels));
    this.conv2 = this.registerModule('conv2', conv(ctx, channels, channels, 3));
    this.norm2 = this.registerModule('norm2', norm(ctx, channels));
    this.se = se ? this.registerModule('se', se) : null;
  }

  forward(x: Tensor): Tensor {
    const se = this.se;
    const front = (x0: Tensor): Tensor => pipe(x0, (t) => this.conv1.call(t), (t) => this.norm1.call(t, { relu: true }), (t) => this.conv2.call(t));
    if (!se) return pipe(x, front, (t) => this.norm2.call(t, { residual: x, relu: true }));
    // The SDE's re-weighting sits between norm2 and the addition, so only the norm runs alone;
    // the squeeze reads the features before norm2 (see IntraScaleSDE).
    return pipe(x, front, (t) => se.call(this.norm2.call(t), t), (t) => add(t, x), relu);
  }
}
