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
 * Inside checkpoint() the recompute in backward runs the EM iterations on the bases the first
 * pass saw (carryOver) and moves nothing (recomputing()): the bases move once per forward.
 */
import { cat, slice } from '../kernels/concat.js';
import { emAttention, emaUpdateBases } from '../kernels/em-attention.js';
import { instanceNorm3dAdd } from '../kernels/instance-norm.js';
import { block, place } from '../kernels/split.js';
import { relu } from '../kernels/unary.js';
import type { Conv3d } from '../nn/layers/conv.js';
import type { InstanceNorm3d } from '../nn/layers/norm.js';
import { Module } from '../nn/module.js';
import { numel, type Shape } from '../tensor/shape.js';
import { bindingElems, copyElements } from '../tensor/chunks.js';
import { carryOver, recomputing } from '../tensor/checkpoint.js';
import { keep, pipe, tidy } from '../tensor/scope.js';
import { empty, isGradEnabled, tensor, type Tensor } from '../tensor/tensor.js';
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
    if (inPlace(x)) return this.tailInPlace(this.heldAttention ? copyOf(this.heldAttention) : this.attend(x), x);
    const held = this.heldAttention;
    return pipe(
      x,
      (t) => (held ? held.detach() : this.attend(t)),
      relu,
      (t) => this.conv2.call(t),
      (t) => this.norm2.call(t, { residual: x, relu: true }),
    );
  }

  /**
   * Without gradients and for an x beyond one binding (see inPlace), relu → conv2 → norm2 →
   * + x → ReLU computed into y's own buffer, so that
   * no other tensor of x's size exists beside x and y (inference at 128³: x and y are 480 MiB
   * each): conv2 (1×1×1, so voxel by voxel) in slabs of voxels, then the norm, the residual
   * and the ReLU in blocks of whole channels (the norm's statistics are per channel), each
   * block's result copied back over y. Temporaries are a few sixteenths of x. Equal to the
   * path with gradients up to float rounding (test/hnfnet/memory.test.ts).
   */
  private tailInPlace(y: Tensor, x: Tensor): Tensor {
    const [n, c, ...spatial] = y.shape as [number, number, ...number[]];
    const v = numel(spatial);
    const part = partElems(y);
    pointwiseInSlabs(y, y, (slab) => {
      const t = relu(slab);
      slab.dispose();
      return this.conv2.call(t);
    });
    const cb = Math.max(1, Math.min(c, Math.floor(part / v)));
    const affine = new Map(this.norm2.namedParameters());
    const w = affine.get('weight') ?? null;
    const b = affine.get('bias') ?? null;
    for (let s = 0; s < n; s++) {
      for (let c0 = 0; c0 < c; c0 += cb) {
        const c1 = Math.min(c, c0 + cb);
        const start = (s * c + c0) * v;
        const shape = [1, c1 - c0, ...spatial];
        tidy(() => {
          const sub = (t: Tensor | null) => (t && (c0 > 0 || c1 < c) ? slice(t, 0, c0, c1) : t);
          place(instanceNorm3dAdd(block(y, start, shape), block(x, start, shape), sub(w), sub(b), this.norm2.eps, { relu: true }), y, start);
        });
      }
    }
    return y;
  }

  /** conv1, the EM iterations and the reconstruction (no gradient); updates the bases in training mode. */
  private attend(x: Tensor): Tensor {
    let h: Tensor;
    if (!inPlace(x)) h = this.conv1.call(x);
    else {
      // In voxel slabs: the conv's own blocks over channels would keep partial sums of h's size.
      h = empty(x.shape, x.device, 'ema_conv1', x.dtype);
      pointwiseInSlabs(x, h, (slab) => this.conv1.call(slab));
    }
    // Under checkpoint() the recompute must see the bases this forward saw, not the ones it moved.
    const bases = carryOver(this, () => this.bases);
    // y is written over h, which nothing else reads (conv1's node, if any, saved only x).
    const { y, mu } = emAttention(h, bases, { stages: this.opts.stages, overwrite: true });
    h.dispose();
    // A checkpoint's recompute: the first pass already moved (or collected) the bases.
    if (this.training && recomputing()) {
      mu.dispose();
      return y;
    }
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

/**
 * Whether the EM unit saves memory on x by working in slabs and over its own buffers: only
 * without gradients (nothing is saved for backward) and where x is beyond one storage
 * binding. A smaller x is not where memory runs out, and there the slabs' thousands of
 * encoder copies would only cost time (the browser demo's windows).
 */
function inPlace(x: Tensor): boolean {
  return !isGradEnabled() && x.size > bindingElems(x.device);
}

/** A copy of t in a buffer of its own (the in-place tail must not write over a caller's tensor). */
function copyOf(t: Tensor): Tensor {
  const c = empty(t.shape, t.device, 'ema_tail', t.dtype);
  place(t, c, 0);
  return c;
}

/** Elements of the in-place tail's blocks: a sixteenth of t, a binding at most. */
function partElems(t: Tensor): number {
  return Math.min(bindingElems(t.device), Math.ceil(t.size / 32));
}

/**
 * out = fn(x) for an fn that acts on each voxel alone (1×1×1 convs, elementwise ops), in
 * slabs of whole D-planes ([1, C, dz, H, W], so the conv sees the usual geometry) copied out
 * of x, the results copied into out, which may be x itself (the slabs are copies, so nothing
 * reads what was written).
 */
function pointwiseInSlabs(x: Tensor, out: Tensor, fn: (slab: Tensor) => Tensor): void {
  const [n, c, d, h, w] = x.shape as [number, number, number, number, number];
  const co = out.shape[1]!;
  const plane = h * w;
  const v = d * plane;
  const device = x.device;
  const dz = Math.max(1, Math.min(d, Math.floor(partElems(x) / (Math.max(c, co) * plane))));
  for (let s = 0; s < n; s++) {
    for (let z0 = 0; z0 < d; z0 += dz) {
      const len = Math.min(dz, d - z0) * plane;
      tidy(() => {
        const slab = empty([1, c, len / plane, h, w], device, 'pointwise_slab', x.dtype);
        for (let ch = 0; ch < c; ch++) copyElements(x, (s * c + ch) * v + z0 * plane, slab, ch * len, len);
        const r = fn(slab);
        for (let ch = 0; ch < co; ch++) copyElements(r, ch * len, out, (s * co + ch) * v + z0 * plane, len);
      });
    }
  }
}

