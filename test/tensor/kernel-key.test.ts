import { describe, expect, it } from 'vitest';
import { tensor, type KernelDef } from '../../src/index.js';
import { generateWGSL, kernelKey } from '../../src/tensor/kernel.js';
import { getDevice } from '../helpers.js';

const triple = (): KernelDef => ({
  name: 'triple_test',
  inputs: ['x'],
  outputs: ['y'],
  uniforms: [{ name: 'n', type: 'u32' }],
  workgroupSize: 64,
  body: '  if (idx < u.n) { y[idx] = 3.0 * x[idx]; }',
});

describe('kernel keys and the pipeline cache', () => {
  it('a definition keeps one key, its WGSL, and equal definitions share it', () => {
    const a = triple();
    const k = kernelKey(a);
    expect(k).toBe(generateWGSL(a));
    expect(kernelKey(a)).toBe(k);
    expect(kernelKey(triple())).toBe(k);
    expect(kernelKey({ ...triple(), body: '  if (idx < u.n) { y[idx] = 4.0 * x[idx]; }' })).not.toBe(k);
  });

  it('the device maps a definition to one pipeline, shared by equal definitions, and dispatches it', async () => {
    const d = await getDevice();
    const a = triple();
    const b = triple();
    const pa = d.pipeline(a);
    expect(d.pipeline(a)).toBe(pa);
    expect(d.pipeline(b).pipeline).toBe(pa.pipeline);
    expect(d.pipeline({ ...triple(), body: '  if (idx < u.n) { y[idx] = 5.0 * x[idx]; }' }).pipeline).not.toBe(pa.pipeline);
    const x = tensor([1, -2, 3], [3]);
    const y = tensor([0, 0, 0], [3]);
    for (const def of [a, b, a]) d.dispatch(def, { inputs: [{ buffer: x.buffer }], outputs: [{ buffer: y.buffer }], uniforms: { n: 3 }, invocations: 3, label: 'x [3]' });
    expect(Array.from(await y.data())).toEqual([3, -6, 9]);
    x.dispose();
    y.dispose();
  });

  it('a dispatch does not generate the WGSL again', async () => {
    const d = await getDevice();
    // The body is read only when the WGSL is generated: count the reads.
    let reads = 0;
    const base = triple();
    const def = { ...base, get body() { reads++; return base.body; } } as KernelDef;
    const x = tensor([1, 2], [2]);
    const y = tensor([0, 0], [2]);
    for (let i = 0; i < 5; i++) d.dispatch(def, { inputs: [{ buffer: x.buffer }], outputs: [{ buffer: y.buffer }], uniforms: { n: 2 }, invocations: 2, label: 'x [2]' });
    expect(Array.from(await y.data())).toEqual([3, 6]);
    expect(reads).toBe(1);
    x.dispose();
    y.dispose();
  });
});
