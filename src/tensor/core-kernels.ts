import type { KernelDef } from './kernel.js';

/** The kernels the tensor layer itself needs: fill (ones, full), same-shape add (gradient accumulation) and dtype conversion. */
export const fillKernel: KernelDef = {
  name: 'fill',
  inputs: [],
  outputs: ['y'],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'value', type: 'f32' },
  ],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }\n  y[idx] = u.value;`,
  halfStorage: true,
};

/** A copy; bound to tensors of two dtypes, its halfVariant converts (Tensor.to). */
export const castKernel: KernelDef = {
  name: 'cast',
  inputs: ['x'],
  outputs: ['y'],
  uniforms: [{ name: 'n', type: 'u32' }],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }\n  y[idx] = x[idx];`,
  halfStorage: true,
};

export const accumulateKernel: KernelDef = {
  name: 'accumulate',
  inputs: ['a', 'b'],
  outputs: ['y'],
  uniforms: [{ name: 'n', type: 'u32' }],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }\n  y[idx] = a[idx] + b[idx];`,
  halfStorage: true,
};
