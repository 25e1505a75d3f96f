/**
 * resolvePrecision: 'auto' (the demo's default) is f16 only on a GPU adapter with shader-f16;
 * on this CPU adapter it stays f32. An explicit f16 is honoured where shader-f16 is, and is a
 * clear error where it is not.
 */
import { describe, expect, it } from 'vitest';
import { Device, isCpuAdapter, NotImplementedError } from '../../src/index.js';
import { resolvePrecision } from '../../src/infer/precision.js';
import { getDevice } from '../helpers.js';

describe('resolvePrecision', () => {
  it('auto is f32 on a CPU adapter, f16 when asked where shader-f16 is; refuses f16 without it and unknown names', async () => {
    const device = await getDevice();
    expect(isCpuAdapter(device)).toBe(true);
    expect(device.hasHalf).toBe(true);
    expect(resolvePrecision(device)).toBe('f32');
    expect(resolvePrecision(device, 'auto')).toBe('f32');
    expect(resolvePrecision(device, 'f16')).toBe('f16');
    expect(resolvePrecision(device, 'f32')).toBe('f32');
    expect(() => resolvePrecision(device, 'bf16' as never)).toThrow(/precision must be auto, f32 or f16, got bf16/);

    const gpu = device.gpu!;
    const adapter = (await gpu.requestAdapter())!;
    const plain = await Device.create({ gpu, adapter, device: await adapter.requestDevice() });
    expect(plain.hasHalf).toBe(false);
    expect(resolvePrecision(plain, 'auto')).toBe('f32');
    expect(() => resolvePrecision(plain, 'f16')).toThrow(NotImplementedError);
    expect(() => resolvePrecision(plain, 'f16')).toThrow(/precision f16: float16 tensors need the WebGPU feature 'shader-f16'/);
    plain.destroy();
  });
});
