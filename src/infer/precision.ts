import { isCpuAdapter } from '../kernels/conv3d-tiled.js';
import type { Module } from '../nn/module.js';
import type { Device } from '../tensor/device.js';
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

/**
 * The precision a caller's choice comes to on a device. 'auto' (the demo's default) is f16
 * where the adapter has `shader-f16` and is a GPU; on a CPU adapter (lavapipe, SwiftShader) the
 * f16↔f32 conversions cost more than the halved memory traffic saves (conv3d forward measured
 * 3.2× slower there), so auto stays f32. An explicit 'f16' without `shader-f16` is an error.
 */
export function resolvePrecision(device: Device, choice: Precision | 'auto' = 'auto'): Precision {
  if (choice === 'auto') return device.hasHalf && !isCpuAdapter(device) ? 'f16' : 'f32';
  if (!PRECISIONS.includes(choice)) throw new ArgumentError(`precision must be auto, f32 or f16, got ${String(choice)}`);
  if (choice === 'f16') device.checkHalf('precision f16');
  return choice;
}
