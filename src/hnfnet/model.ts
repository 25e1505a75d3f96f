/**
 * HNF-Net / HNF-Netv2 (one class; the SDE blocks are switched by the config):
 *
 *   stem:     full-scale 3³ conv blocks (4 → 32)                      → skip
 *   down:     stride-2 3³ conv block into 1/2 scale
 *   pmf1..4:  PMF modules with 1, 2, 3, 4 branches at 1/2 … 1/16 (pmf.ts)
 *   inter_sde (HNF-Netv2): between the last two PMF modules, after the fusion (sde.ts)
 *   all branches trilinearly upsampled to 1/2 scale and concatenated (Σ widths channels)
 *   ema:      EM attention unit on the concatenation (ema-unit.ts)
 *   up:       1×1×1 conv block to 32 channels, trilinear upsampling to full scale, + skip
 *   decoder:  full-scale 3³ conv blocks (32 channels)
 *   head:     1×1×1 conv to the region logits (WT, TC, ET)
 *
 * Parameter names are PyTorch-style dotted paths from these member names, e.g.
 * `pmf3.branches.1.0.conv1.weight` (PMF 3, branch 1 at 1/4 scale, residual block 0) or
 * `pmf4.fuse.0.3.conv.weight` (PMF 4's path from branch 3 into branch 0).
 */
import { add } from '../kernels/broadcast.js';
import { cat } from '../kernels/concat.js';
import { interpolate } from '../kernels/interpolate.js';
import type { Conv3d } from '../nn/layers/conv.js';
import { Sequential } from '../nn/layers/container.js';
import { Module } from '../nn/module.js';
import { HnfnetError } from '../tensor/errors.js';
import { pipe, tidy } from '../tensor/scope.js';
import { numel } from '../tensor/shape.js';
import { empty, isGradEnabled, type Tensor } from '../tensor/tensor.js';
import { copyElements } from '../tensor/chunks.js';
import { conv, ConvNormAct, type BuildContext } from './blocks.js';
import { inputStride, type HnfnetConfig } from './config.js';
import { EMAUnit } from './ema-unit.js';
import { checkInputShape } from './input.js';
import { PMF } from './pmf.js';
import { InterScaleSDE } from './sde.js';

/**
 * Activation checkpointing of a training forward: 'none', or 'pmf' (every PMF module keeps
 * only its inputs for backward and computes its activations again there; PMF.checkpointed
 * switches one module).
 */
export type ActivationCheckpointing = 'none' | 'pmf';
export const ACTIVATION_CHECKPOINTING: readonly ActivationCheckpointing[] = ['none', 'pmf'];

export class HNFNet extends Module<[Tensor, boolean?], Tensor> {
  readonly stem: Sequential;
  readonly down: ConvNormAct;
  readonly pmfs: PMF[];
  readonly interSde: InterScaleSDE | null;
  readonly ema: EMAUnit;
  readonly up: ConvNormAct;
  readonly decoder: Sequential;
  readonly head: Conv3d;

  constructor(
    ctx: BuildContext,
    readonly config: HnfnetConfig,
  ) {
    super();
    const c = config;
    const s = c.stemChannels;
    this.stem = this.registerModule('stem', new Sequential(...Array.from({ length: c.encoderConvs }, (_, i) => new ConvNormAct(ctx, i === 0 ? c.inChannels : s, s, 3))));
    this.down = this.registerModule('down', new ConvNormAct(ctx, s, c.widths[0]!, 3, { stride: 2 }));
    const sde = c.intraSde ? { reduction: c.sdeReduction } : null;
    const n = c.widths.length;
    this.pmfs = c.widths.map((_, k) => this.registerModule(`pmf${k + 1}`, new PMF(ctx, c.widths.slice(0, k + 1), c.blocks[k]!, sde)));
    this.interSde = c.interSde ? this.registerModule('inter_sde', new InterScaleSDE(ctx, c.widths.slice(0, n - 1))) : null;
    const total = c.widths.reduce((a, w) => a + w, 0);
    this.ema = this.registerModule('ema', new EMAUnit(ctx, total, { bases: c.emaBases, stages: c.emaStages, momentum: c.emaMomentum, renormalize: c.emaRenormalize }));
    this.up = this.registerModule('up', new ConvNormAct(ctx, total, s, 1));
    this.decoder = this.registerModule('decoder', new Sequential(...Array.from({ length: c.decoderConvs }, () => new ConvNormAct(ctx, s, s, 3))));
    this.head = this.registerModule('head', conv(ctx, s, c.outChannels, 1, { bias: true }));
  }

  /** Switches activation checkpointing of every PMF module (it applies in training mode only). */
  setActivationCheckpointing(mode: ActivationCheckpointing): this {
    if (!ACTIVATION_CHECKPOINTING.includes(mode)) throw new HnfnetError(`activation checkpointing must be one of ${ACTIVATION_CHECKPOINTING.join(', ')}, got ${JSON.stringify(mode)}`);
    for (const pmf of this.pmfs) pmf.checkpointed = mode === 'pmf';
    return this;
  }

  /**
   * Region logits on x's grid. With `native` (inputStride 2) they stay on the grid the network
   * ran on, half x's: where training takes its loss (trainer.ts), against regions brought down
   * by the same mean, so no step pays for full-resolution logits and their gradients.
   */
  forward(x: Tensor, native = false): Tensor {
    checkInputShape(x.shape, this.config, 'hnfnet');
    const grid = x.shape.slice(2);
    const halved = inputStride(this.config) === 2;
    return pipe(
      x,
      // Trilinear to half size (align_corners false) is exactly the 2×2×2 mean, on both sides.
      (t) => (halved ? interpolate(t, { size: grid.map((d) => d / 2) }) : t),
      (t) => this.stem.call(t),
      (skip) => add(tidy(() => interpolate(this.context(skip), { size: skip.shape.slice(2) })), skip),
      (t) => this.decoder.call(t),
      (t) => this.head.call(t),
      (t) => (native || !halved ? t : interpolate(t, { size: grid })),
    );
  }

  /** From the skip: down to 1/2 scale, the PMF modules (the inter-scale SDE between the last two), the branches joined, the EM unit and `up`. */
  private context(skip: Tensor): Tensor {
    const last = this.pmfs.length - 1;
    const modules = this.pmfs.flatMap((pmf, k) => (this.interSde && k === last - 1 ? [pmf, this.interSde] : [pmf]));
    const [y] = pipe<Tensor[]>(
      [skip],
      ([t]) => [this.down.call(t!)],
      ...modules.map((m) => (fs: Tensor[]) => m.call(fs)),
      (fs) => [isGradEnabled() ? joinBranches(fs) : joinBranchesInPlace(fs)],
      ([t]) => [this.ema.call(t!)],
      ([t]) => [this.up.call(t!)],
    );
    return y!;
  }
}

/** Every branch brought to the first one's (1/2) scale and concatenated along channels. */
function joinBranches(feats: readonly Tensor[]): Tensor {
  const half = feats[0]!.shape.slice(2);
  return tidy(() => cat(feats.map((f, i) => (i === 0 ? f : interpolate(f, { size: half }))), 1));
}

/**
 * joinBranches without gradients: each upsampled branch is copied into its channels of the
 * result and freed at once, instead of all of them living beside the concatenation (at 128³
 * they are as large as it, 480 MiB).
 */
function joinBranchesInPlace(feats: readonly Tensor[]): Tensor {
  const half = feats[0]!.shape.slice(2);
  const [n] = feats[0]!.shape as [number];
  const v = numel(half);
  const total = feats.reduce((a, f) => a + f.shape[1]!, 0);
  const joined = empty([n, total, ...half], feats[0]!.device, 'join_branches', feats[0]!.dtype);
  let c0 = 0;
  feats.forEach((f, i) => {
    const w = f.shape[1]!;
    tidy(() => {
      const p = i === 0 ? f : interpolate(f, { size: half });
      for (let s = 0; s < n; s++) copyElements(p, s * w * v, joined, (s * total + c0) * v, w * v);
    });
    c0 += w;
  });
  return joined;
}
