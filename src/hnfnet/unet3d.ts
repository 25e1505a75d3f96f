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
    const skips: Tensor[] = [];
    let cur = x;
    for (const enc of this.encoders.items) {
      cur = enc.call(cur);
      skips.push(cur);
    }
    cur = skips.pop()!;
    this.decoders.items.forEach((dec) => {
      const skip = skips.pop()!;
      const up = interpolate(cur, { size: skip.shape.slice(2) });
      cur.dispose();
      const joined = cat([skip, up], 1);
      up.dispose();
      skip.dispose();
      cur = dec.call(joined);
      joined.dispose();
    });
    const logits = this.head.call(cur);
    cur.dispose();
    return logits;
  }
}
