import type { Module } from '../nn/module.js';
import { ArgumentError } from '../tensor/errors.js';
import { tidy } from '../tensor/scope.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import type { Predictor } from './sliding-window.js';

/** Inference precision: f32, or f16 storage (parameters and activations) with f32 arithmetic. */
export type Precision = 'f32' | 'f16';

export const PRECISIONS: readonly Precision[] = ['f32', 'f16'];

/**
 * The predictor of a model at a precision. For f16 the model's parameters are converted once
 * (`model.to('float16')`, so the model is then for inference only), each window is converted
 * at entry and the logits come back as float32, so the blending and everything after it are
 * as with f32. A device without `shader-f16` is a clear error on the first window.
 */
export function predictorAt(model: Module<[Tensor], Tensor>, precision: Precision = 'f32'): Predictor {
  if (precision === 'f32') return (x) => model.call(x);
  if (precision !== 'f16') throw new ArgumentError(`precision must be f32 or f16, got ${String(precision)}`);
  model.to('float16');
  return (x) => noGrad(() => tidy(() => model.call(x.to('float16')).to('float32')));
}
