import { Generator } from '../tensor/random.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';

export type InitScheme = 'default' | 'kaiming_normal';

export interface InitOptions {
  generator?: Generator;
  device?: Device;
}

function uniformTensor(shape: number[], bound: number, opts: InitOptions): Tensor {
  const g = opts.generator ?? new Generator(0);
  const n = shape.reduce((a, d) => a * d, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * g.uniform() - 1) * bound;
  return tensor(a, shape, opts.device ? { device: opts.device } : {});
}

/**
 * PyTorch's default for Conv/Linear weights: kaiming_uniform_ with a = √5, which works out
 * to U(−1/√fan_in, 1/√fan_in); biases use the same bound.
 */
export function defaultUniform(shape: number[], fanIn: number, opts: InitOptions = {}): Tensor {
  return uniformTensor(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0, opts);
}

/** kaiming_normal_(mode='fan_in') with the gain of leaky_relu(slope) (slope 0 = ReLU). */
export function kaimingNormal(shape: number[], fanIn: number, slope = 0, opts: InitOptions = {}): Tensor {
  const g = opts.generator ?? new Generator(0);
  const std = Math.sqrt(2 / (1 + slope * slope)) / Math.sqrt(Math.max(1, fanIn));
  const n = shape.reduce((a, d) => a * d, 1);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = g.normal() * std;
  return tensor(a, shape, opts.device ? { device: opts.device } : {});
}

export function constant(shape: number[], value: number, opts: InitOptions = {}): Tensor {
  return tensor(new Float32Array(shape.reduce((a, d) => a * d, 1)).fill(value), shape, opts.device ? { device: opts.device } : {});
}
