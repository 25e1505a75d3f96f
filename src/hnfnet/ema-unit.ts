/**
 * EMANet's expectation-maximisation attention unit:
 *   idn = x; x = conv1(x) (1×1×1, bias); T EM iterations without gradient (E: softmax over
 *   the K bases; normalise over voxels; M: bases = weighted means; L2-normalise over C);
 *   x = mu·Zᵀ; ReLU; conv2 (1×1×1, no bias); norm; + idn; ReLU.
 *
 * Gradient: as in EMANet's reference code, Z and mu come out of torch.no_grad(), so the
 * reconstruction mu·Zᵀ is a constant with respect to x: gradient reaches x only through the
 * residual path, conv2 and the norm train on the reconstruction, and conv1 (whose output
 * feeds only the EM iterations) receives no gradient at all. The `emAttention` kernel is
 * forward-only, which is exactly this stop-gradient.
 *
 * Bases: a buffer `mu` [1, C, K], initialised N(0, √(2/K)) and L2-normalised over C. In
 * training mode every forward replaces it with momentum·mu + (1 − momentum)·mean_N(batch
 * bases), then (by default) L2-normalises it again; in eval mode it is left alone.
 * Between `deferBaseUpdates()` and `commitBaseUpdates()` (a step of gradient accumulation)
 * the forwards collect their batch bases instead and the commit moves `mu` once with the mean
 * of all of them, so N micro-batches see and move the bases exactly as the whole batch would.
 */
import { add } from '../kernels/broadcast.js';
import { cat } from '../kernels/concat.js';
import { emAttention, emaUpdateBases } from '../kernels/em-attention.js';
import { relu } from '../kernels/unary.js';
import type { Conv3d } from '../nn/layers/conv.js';
import type { InstanceNorm3d } from '../nn/layers/norm.js';
import { Module } from '../nn/module.js';
import { numel, type Shape } from '../tensor/shape.js';
import { keep } from '../tensor/scope.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { conv, norm, type BuildContext } from './blocks.js';

export interface EMAUnitOptions {
  bases: number;
  stages: number;
  momentum: number;
  renormalize: boolean;
}

export class EMAUnit extends Module {
  readonly conv1: Conv3d;
  readonly conv2: Conv3d;
  readonly norm2: InstanceNorm3d;
  /**
   * A fixed reconstruction used in place of the EM iterations (null: run them; the bases are
   * then not updated either). The analytic gradient treats the EM output as a constant;
   * holding it fixed makes the forward exactly the function that gradient differentiates,
   * which finite-difference checks need. The caller owns the tensor.
   */
  heldAttention: Tensor | null = null;
  /** Batch bases [N, C, K] of the forwards since deferBaseUpdates(), or null when not deferring. */
  private pendingBases: Tensor[] | null = null;

  constructor(
    ctx: BuildContext,
    readonly channels: number,
    readonly opts: EMAUnitOptions,
  ) {
    super();
    this.conv1 = this.registerModule('conv1', conv(ctx, channels, channels, 1, { bias: true }));
    this.conv2 = this.registerModule('conv2', conv(ctx, channels, channels, 1, { bias: false }));
    this.norm2 = this.registerModule('norm2', norm(ctx, channels));
    const K = opts.bases;
    const mu = new Float32Array(channels * K);
    const std = Math.sqrt(2 / K);
    for (let i = 0; i < mu.length; i++) mu[i] = ctx.generator.normal() * std;
    for (let k = 0; k < K; k++) {
      let ss = 0;
      for (let c = 0; c < channels; c++) ss += mu[c * K + k]! ** 2;
      const r = 1 / (1e-6 + Math.sqrt(ss));
      for (let c = 0; c < channels; c++) mu[c * K + k]! *= r;
    }
    this.registerBuffer('mu', tensor(mu, [1, channels, K], ctx.device ? { device: ctx.device } : {}));
  }

  get bases(): Tensor {
    return this.getBuffer('mu');
  }

  forward(x: Tensor): Tensor {
    const y = this.heldAttention ? this.heldAttention.detach() : this.attend(x);
    let t = relu(y);
    y.dispose();
    let u = this.conv2.call(t);
    t.dispose();
    t = this.norm2.call(u);
    u.dispose();
    u = add(t, x);
    t.dispose();
    t = relu(u);
    u.dispose();
    return t;
  }

  /** conv1, the EM iterations and the reconstruction (no gradient); updates the bases in training mode. */
  private attend(x: Tensor): Tensor {
    const h = this.conv1.call(x);
    const { y, mu } = emAttention(h, this.bases, { stages: this.opts.stages });
    h.dispose();
    if (this.training && this.pendingBases) {
      this.pendingBases.push(keep(mu));
      return y;
    }
    if (this.training) this.setBuffer('mu', emaUpdateBases(this.bases, mu, this.opts.momentum, { normalize: this.opts.renormalize }));
    mu.dispose();
    return y;
  }

  /** Training forwards from now on leave `mu` alone and remember their batch bases. */
  deferBaseUpdates(): void {
    this.discardPending();
    this.pendingBases = [];
  }

  /** Moves `mu` once with the mean over every sample seen since deferBaseUpdates(); ends deferring. */
  commitBaseUpdates(): void {
    const pending = this.pendingBases;
    this.pendingBases = null;
    if (!pending?.length) return;
    const all = pending.length === 1 ? pending[0]! : cat(pending, 0);
    this.setBuffer('mu', emaUpdateBases(this.bases, all, this.opts.momentum, { normalize: this.opts.renormalize }));
    if (all !== pending[0]) all.dispose();
    for (const t of pending) t.dispose();
  }

  /** Drops collected batch bases without moving `mu` (a step that failed); ends deferring. */
  discardPending(): void {
    for (const t of this.pendingBases ?? []) t.dispose();
    this.pendingBases = null;
  }

  override dispose(): void {
    this.discardPending();
    super.dispose();
  }

  /**
   * Multiply-adds of the EM iterations and the reconstruction for an input shape: each E-step
   * and M-step is a [V, C]·[C, K] product, the reconstruction one more. Not part of `macs`
   * (see flops.ts: the paper's counts are layer counts, which leave these products out).
   */
  emMacs(input: Shape): number {
    const [n, c] = input as [number, number];
    return (2 * this.opts.stages + 1) * n * c * this.opts.bases * (numel(input) / (n * c));
  }
}
