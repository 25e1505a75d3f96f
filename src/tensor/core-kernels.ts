import type { KernelDef } from './kernel.js';

/** The two kernels the tensor layer itself needs: fill (ones, full) and same-shape add (gradient accumulation). */
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
};

export const accumulateKernel: KernelDef = {
  name: 'accumulate',
  inputs: ['a', 'b'],
  outputs: ['y'],
  uniforms: [{ name: 'n', type: 'u32' }],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }\n  y[idx] = a[idx] + b[idx];`,
};
