/**
 * A parallel multi-scale fusion (PMF) module, in HRNet's manner: k branches at scales
 * 1/2 … 1/2^k, each a stack of residual blocks at its own resolution, then a fully connected
 * fusion where every output branch i sums all branches j brought to its scale:
 *   j > i (coarser): 1×1×1 conv to branch i's width → norm → trilinear upsampling;
 *   j < i (finer):   (i − j) stride-2 3³ conv → norm steps, ReLU between them, the last one
 *                    switching to branch i's width;
 * followed by a ReLU. Module k ≥ 2 first grows its new, coarsest branch from the previous
 * module's coarsest output with a stride-2 3³ conv → norm → ReLU (`transition`).
 */
import { add } from '../kernels/broadcast.js';
import { interpolate } from '../kernels/interpolate.js';
import { relu } from '../kernels/unary.js';
import type { Conv3d } from '../nn/layers/conv.js';
import { ModuleList, Sequential } from '../nn/layers/container.js';
import type { InstanceNorm3d } from '../nn/layers/norm.js';
import { Module } from '../nn/module.js';
import { ShapeError } from '../tensor/errors.js';
import { checkpoint } from '../tensor/checkpoint.js';
import { pipe } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv, ConvNormAct, norm, ResidualBlock, type BuildContext } from './blocks.js';
import { IntraScaleSDE } from './sde.js';

/** The coarse-to-fine path of the fusion: 1×1×1 conv → norm at the coarse scale, then trilinear upsampling. */
export class FuseUp extends Module<[Tensor, readonly number[]], Tensor> {
  readonly conv: Conv3d;
  readonly norm: InstanceNorm3d;

  constructor(ctx: BuildContext, inCh: number, outCh: number) {
    super();
    this.conv = this.registerModule('conv', conv(ctx, inCh, outCh, 1));
    this.norm = this.registerModule('norm', norm(ctx, outCh));
  }

  /** `size`: the target branch's spatial size [D, H, W]. */
  forward(x: Tensor, size: readonly number[]): Tensor {
    return pipe(x, (t) => this.conv.call(t), (t) => this.norm.call(t), (t) => interpolate(t, { size }));
  }
}

/** One output branch of the fusion; its children are named by the source branch they take. */
export class FuseTarget extends Module<[readonly Tensor[]], Tensor> {
  private readonly paths = new Map<number, FuseUp | Sequential>();

  constructor(
    ctx: BuildContext,
    readonly target: number,
    widths: readonly number[],
  ) {
    super();
    widths.forEach((w, j) => {
      if (j === target) return;
      let m: FuseUp | Sequential;
      if (j > target) m = new FuseUp(ctx, w, widths[target]!);
      else {
        const steps: ConvNormAct[] = [];
        for (let s = 0; s < target - j; s++) {
          const last = s === target - j - 1;
          steps.push(new ConvNormAct(ctx, w, last ? widths[target]! : w, 3, { stride: 2, act: !last }));
        }
        m = new Sequential(...steps);
      }
      this.paths.set(j, this.registerModule(String(j), m));
    });
  }

  /**
   * own + every path's output, then ReLU. A finer source's path ends in conv → norm, whose
   * normalising pass adds the running sum itself (and applies the ReLU when it is the last
   * term): the same sums in the same order (a + b is b + a exactly), without writing the
   * path's output and reading it back.
   */
  forward(xs: readonly Tensor[]): Tensor {
    const own = xs[this.target]!;
    const sources = xs.map((_, j) => j).filter((j) => j !== this.target);
    const last = sources[sources.length - 1];
    // A last source through conv → norm applies the ReLU in its norm; an upsampled one does not.
    const reluAfter = last === undefined || this.paths.get(last) instanceof FuseUp;
    const sums = sources.map((j) => {
      const p = this.paths.get(j)!;
      return (acc: Tensor): Tensor => (p instanceof FuseUp ? add(acc, p.call(xs[j]!, own.shape.slice(2))) : sumThroughPath(p, xs[j]!, acc, j === last));
    });
    return pipe(own, ...sums, ...(reluAfter ? [relu] : []));
  }
}

/** acc + path(x) (ReLU'd with `relu`) for a path of ConvNormAct steps: the last step's norm adds acc. */
function sumThroughPath(path: Sequential, x: Tensor, acc: Tensor, activate: boolean): Tensor {
  const steps = path.layers as ConvNormAct[];
  const front = steps.slice(0, -1).map((step) => (t: Tensor): Tensor => step.call(t));
  return pipe(x, ...front, (t) => steps[steps.length - 1]!.call(t, { residual: acc, relu: activate }));
}

export class PMF extends Module<[readonly Tensor[]], Tensor[]> {
  readonly transition: ConvNormAct | null;
  readonly branches: ModuleList<Sequential>;
  readonly fuse: ModuleList<FuseTarget> | null;

  /**
   * `widths`: this module's branch widths (its number of branches is widths.length);
   * `blocks`: residual blocks per branch.
   */
  constructor(ctx: BuildContext, readonly widths: readonly number[], blocks: number, sde: { reduction: number } | null) {
    super();
    const k = widths.length;
    this.transition = k > 1 ? this.registerModule('transition', new ConvNormAct(ctx, widths[k - 2]!, widths[k - 1]!, 3, { stride: 2 })) : null;
    this.branches = this.registerModule(
      'branches',
      new ModuleList(
        widths.map(
          (w) => new Sequential(...Array.from({ length: blocks }, () => new ResidualBlock(ctx, w, sde ? new IntraScaleSDE(ctx, w, sde.reduction) : null))),
        ),
      ),
    );
    this.fuse = k > 1 ? this.registerModule('fuse', new ModuleList(widths.map((_, i) => new FuseTarget(ctx, i, widths)))) : null;
  }

  /**
   * Activation checkpointing in training mode (src/tensor/checkpoint.ts): the module keeps
   * only its inputs for backward and computes its activations again there. Same values and
   * gradients; less memory, one more forward of the module per step.
   */
  checkpointed = false;

  /** `xs`: the previous module's k − 1 outputs (or the single 1/2-scale input of the first module). */
  forward(xs: readonly Tensor[]): Tensor[] {
    const k = this.widths.length;
    const expected = this.transition ? k - 1 : k;
    if (xs.length !== expected) throw new ShapeError(`PMF with ${k} branches expects ${expected} inputs, got ${xs.length}`);
    return this.checkpointed && this.training ? checkpoint((ins) => this.run(ins), xs) : this.run(xs);
  }

  private run(xs: readonly Tensor[]): Tensor[] {
    const { transition, fuse } = this;
    return pipe<Tensor[]>(
      [...xs],
      (fs) => (transition ? [...fs, transition.call(fs[fs.length - 1]!)] : fs),
      (fs) => fs.map((x, i) => this.branches.at(i).call(x)),
      (fs) => (fuse ? fuse.items.map((f) => f.call(fs)) : fs),
    );
  }
}
