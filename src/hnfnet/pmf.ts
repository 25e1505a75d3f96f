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
    const c = this.conv.call(x);
    const n = this.norm.call(c);
    c.dispose();
    const y = interpolate(n, { size });
    n.dispose();
    return y;
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
    let acc = own;
    let activated = false;
    sources.forEach((j, n) => {
      const p = this.paths.get(j)!;
      const last = n === sources.length - 1;
      let s: Tensor;
      if (p instanceof FuseUp) {
        const t = p.call(xs[j]!, own.shape.slice(2));
        s = add(acc, t);
        t.dispose();
      } else {
        s = sumThroughPath(p, xs[j]!, acc, last);
        activated = last;
      }
      if (acc !== own) acc.dispose();
      acc = s;
    });
    if (activated) return acc;
    const y = relu(acc);
    if (acc !== own) acc.dispose();
    return y;
  }
}

/** acc + path(x) (ReLU'd with `relu`) for a path of ConvNormAct steps: the last step's norm adds acc. */
function sumThroughPath(path: Sequential, x: Tensor, acc: Tensor, activate: boolean): Tensor {
  const steps = path.layers as ConvNormAct[];
  let cur = x;
  for (const step of steps.slice(0, -1)) {
    const next = step.call(cur);
    if (cur !== x) cur.dispose();
    cur = next;
  }
  const y = steps[steps.length - 1]!.call(cur, { residual: acc, relu: activate });
  if (cur !== x) cur.dispose();
  return y;
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

  /** `xs`: the previous module's k − 1 outputs (or the single 1/2-scale input of the first module). */
  forward(xs: readonly Tensor[]): Tensor[] {
    const k = this.widths.length;
    const expected = this.transition ? k - 1 : k;
    if (xs.length !== expected) throw new ShapeError(`PMF with ${k} branches expects ${expected} inputs, got ${xs.length}`);
    const grown = this.transition ? this.transition.call(xs[xs.length - 1]!) : null;
    const inputs = grown ? [...xs, grown] : xs;
    const outs = inputs.map((x, i) => this.branches.at(i).call(x));
    grown?.dispose();
    if (!this.fuse) return outs;
    const fused = this.fuse.items.map((f) => f.call(outs));
    for (const o of outs) o.dispose();
    return fused;
  }
}
