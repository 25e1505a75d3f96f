/**
 * HNF-Netv2's semantic discrimination enhancement (SDE) blocks.
 *
 * Intra-scale: squeeze-excitation inside a branch (GAP → 1×1×1 conv → ReLU → 1×1×1 conv →
 * sigmoid → channel re-weighting).
 *
 * Inter-scale: the global context of the smallest-scale branch handed to every branch: GAP
 * of that branch, per target branch a 1×1×1 conv down to one channel, broadcast to the
 * branch's resolution (trilinear upsampling of a 1³ map is exactly a broadcast), concatenated
 * with the branch's features and fused back to the branch width by a 3³ conv → norm → ReLU.
 * The one-channel conv runs on the pooled 1³ map before the broadcast: a 1×1×1 conv commutes
 * with it, and this way it costs C multiply-adds instead of C per voxel.
 */
import { broadcastTo, mul } from '../kernels/broadcast.js';
import { cat } from '../kernels/concat.js';
import { globalAvgPool3d } from '../kernels/pool.js';
import { relu, sigmoid } from '../kernels/unary.js';
import type { Conv3d } from '../nn/layers/conv.js';
import { ModuleList } from '../nn/layers/container.js';
import { Module } from '../nn/module.js';
import { pipe, tidy } from '../tensor/scope.js';
import { numel, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv, ConvNormAct, type BuildContext } from './blocks.js';

export class IntraScaleSDE extends Module<[Tensor, Tensor?], Tensor> {
  readonly conv1: Conv3d;
  readonly conv2: Conv3d;

  constructor(ctx: BuildContext, channels: number, reduction: number) {
    super();
    const hidden = Math.max(1, Math.round(channels / reduction));
    this.conv1 = this.registerModule('conv1', conv(ctx, channels, hidden, 1, { bias: true }));
    this.conv2 = this.registerModule('conv2', conv(ctx, hidden, channels, 1, { bias: true }));
  }

  /**
   * Re-weights x by channel. The squeeze pools `context` when given: in a residual block x
   * is instance-normalised, so its per-channel mean is the norm's bias whatever the input,
   * and the block passes the features before that norm instead.
   */
  forward(x: Tensor, context?: Tensor): Tensor {
    // Everything before the re-weighting is [N, C, 1, 1, 1]: one scope for all of it.
    return tidy(() => mul(x, sigmoid(this.conv2.call(relu(this.conv1.call(globalAvgPool3d(context ?? x)))))));
  }

  /** The pooling's additions and the re-weighting's multiplications: one each per element. */
  override macs(inputs: readonly Shape[]): number {
    return 2 * numel(inputs[0]!);
  }
}

export class InterScaleSDE extends Module<[readonly Tensor[]], Tensor[]> {
  readonly squeeze: ModuleList<Conv3d>;
  readonly fuse: ModuleList<ConvNormAct>;

  /** `widths` of the branches it serves, highest resolution first; the last is the context source. */
  constructor(ctx: BuildContext, readonly widths: readonly number[]) {
    super();
    const src = widths[widths.length - 1]!;
    this.squeeze = this.registerModule('squeeze', new ModuleList(widths.map(() => conv(ctx, src, 1, 1, { bias: true }))));
    this.fuse = this.registerModule('fuse', new ModuleList(widths.map((w) => new ConvNormAct(ctx, w + 1, w, 3))));
  }

  forward(xs: readonly Tensor[]): Tensor[] {
    return tidy(() => {
      const g = globalAvgPool3d(xs[xs.length - 1]!);
      return xs.map((x, i) =>
        pipe(
          x,
          (t) => cat([t, broadcastTo(this.squeeze.at(i).call(g), [t.shape[0]!, 1, ...t.shape.slice(2)])], 1),
          (t) => this.fuse.at(i).call(t),
        ),
      );
    });
  }

  /** The pooling of the source branch (one addition per element). */
  override macs(inputs: readonly Shape[]): number {
    return numel(inputs[inputs.length - 1]!);
  }
}
