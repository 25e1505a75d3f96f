import { conv3d } from '../../kernels/conv3d.js';
import type { Shape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import { defaultUniform, kaimingNormal, type InitOptions, type InitScheme } from '../init.js';
import { Module } from '../module.js';

export type Triple = number | readonly [number, number, number];

export const triple = (v: Triple): [number, number, number] => (typeof v === 'number' ? [v, v, v] : [v[0], v[1], v[2]]);

export interface Conv3dOptions extends InitOptions {
  stride?: Triple;
  padding?: Triple;
  bias?: boolean;
  init?: InitScheme;
  /** Negative slope used by kaiming_normal's gain (0 for ReLU). */
  initSlope?: number;
}

/** torch.nn.Conv3d: weight [Co, Ci, kd, kh, kw], optional bias [Co]. */
export class Conv3d extends Module {
  readonly kernelSize: [number, number, number];
  readonly stride: [number, number, number];
  readonly padding: [number, number, number];
  readonly hasBias: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Triple,
    opts: Conv3dOptions = {},
  ) {
    super();
    this.kernelSize = triple(kernelSize);
    this.stride = triple(opts.stride ?? 1);
    this.padding = triple(opts.padding ?? 0);
    this.hasBias = opts.bias !== false;
    const [kd, kh, kw] = this.kernelSize;
    const fanIn = inChannels * kd * kh * kw;
    const shape = [outChannels, inChannels, kd, kh, kw];
    const kaiming = opts.init === 'kaiming_normal';
    this.registerParameter('weight', kaiming ? kaimingNormal(shape, fanIn, opts.initSlope ?? 0, opts) : defaultUniform(shape, fanIn, opts));
    // Kaiming init conventionally zeroes biases (nnU-Net does); PyTorch's default draws them.
    if (this.hasBias) this.registerParameter('bias', defaultUniform([outChannels], kaiming ? 0 : fanIn, opts));
  }

  get weight(): Tensor {
    return this.param('weight');
  }

  get bias(): Tensor | null {
    return this.hasBias ? this.param('bias') : null;
  }

  forward(x: Tensor): Tensor {
    return conv3d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  override macs(_inputs: readonly Shape[], output: Shape): number {
    const [kd, kh, kw] = this.kernelSize;
    return output.reduce((a, d) => a * d, 1) * this.inChannels * kd * kh * kw;
  }
}
