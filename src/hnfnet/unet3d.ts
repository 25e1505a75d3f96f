/**
 * The 3D U-Net baseline: L levels of `convsPerLevel` 3³ conv → norm → ReLU blocks, each deeper
 * level entered by making its first conv stride 2 (nnU-Net's way; it costs what max pooling
 * followed by the same conv would); the decoder upsamples trilinearly, concatenates the
 * skip [skip, up] and runs `convsPerLevel` blocks at the skip's width; a 1×1×1 head gives the
 * logits.
 *
 * Names: `encoders.<level>.<i>.conv.weight`, `decoders.<j>.<i>.conv.weight` (j = 0 is the
 * deepest decoder level), `head.weight`.
 */
import { cat } from '../kernels/concat.js';
import { interpolate } from '../kernels/interpolate.js';
import type { Conv3d } from '../nn/layers/conv.js';
import { ModuleList, Sequential } from '../nn/layers/container.js';
import { Module } from '../nn/module.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv, ConvNormAct, type BuildContext } from './blocks.js';
import type { UNet3dConfig } from './config.js';
import { checkInputShape } from './input.js';

export class UNet3d extends Module {
  readonly encoders: ModuleList<Sequential>;
  readonly decoders: ModuleList<Sequential>;
  readonly head: Conv3d;

  constructor(
    ctx: BuildContext,
    readonly config: UNet3dConfig,
  ) {
    super();
    const w = config.widths;
    const n = config.convsPerLevel;
    this.encoders = this.registerModule(
      'encoders',
      new ModuleList(
        w.map((width, l) => new Sequential(...Array.from({ length: n }, (_, i) => new ConvNormAct(ctx, i > 0 ? width : l === 0 ? config.inChannels : w[l - 1]!, width, 3, { stride: i === 0 && l > 0 ? 2 : 1 })))),
      ),
    );
    const dec: Sequential[] = [];
    for (let l = w.length - 2; l >= 0; l--) {
      dec.push(new Sequential(...Array.from({ length: n }, (_, i) => new ConvNormAct(ctx, i === 0 ? w[l]! + w[l + 1]! : w[l]!, w[l]!, 3))));
    }
    this.decoders = this.registerModule('decoders', new ModuleList(dec));
    this.head = this.registerModule('head', conv(ctx, w[0]!, config.outChannels, 1, { bias: true }));
  }

  forward(x: Tensor): Tensor {
    checkInputShape(x.shape, this.config, 'unet3d');
    return tidy(() => this.head.call(this.level(0, x)));
  }

  /**
   * Level l of the U on its input: the encoder; below the deepest level, the levels under it
   * on the encoder's output (the skip), upsampled, concatenated after the skip and decoded.
   * The scopes free the deeper result after its upsampling, skip and upsampled after the
   * concatenation, and the concatenation after the decoder.
   */
  private level(l: number, x: Tensor): Tensor {
    const encoder = this.encoders.at(l);
    if (l === this.encoders.length - 1) return encoder.call(x);
    const decoder = this.decoders.at(this.decoders.length - 1 - l);
    return tidy(() =>
      decoder.call(
        tidy(() => {
          const skip = encoder.call(x);
          const up = tidy(() => interpolate(this.level(l + 1, skip), { size: skip.shape.slice(2) }));
          return cat([skip, up], 1);
        }),
      ),
    );
  }
}
