import { beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, cat, Device, full, slice, getDefaultDevice, noGrad, NotImplementedError, roundToHalf, tensor, type KernelDef } from '../../src/index.js';
import { fromHalfBits, toHalfBits } from '../../src/tensor/dtype.js';
import { rewriteHalfAccess } from '../../src/tensor/kernel.js';
import { arg } from '../../src/kernels/util.js';
import { getDevice, randArray } from '../helpers.js';

beforeAll(async () => {
  const d = await getDevice();
  if (!d.hasHalf) throw new Error(`these tests need an adapter with shader-f16 (${d.adapterInfo})`);
});

describe('float16 host conversion', () => {
  it('rounds to nearest even, keeps subnormals, overflows to infinity', () => {
    expect(roundToHalf(1)).toBe(1);
    expect(roundToHalf(1 + 2 ** -11)).toBe(1); // the tie between 1 and 1 + 2^-10 goes to the even 1
    expect(roundToHalf(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // ... and between 1 + 2^-10 and 1 + 2^-9 to the even 1 + 2^-9
    expect(roundToHalf(65504)).toBe(65504);
    expect(roundToHalf(65520)).toBe(Infinity);
    expect(roundToHalf(2 ** -24)).toBe(2 ** -24);
    expect(roundToHalf(3 * 2 ** -26)).toBe(2 ** -24);
    expect(roundToHalf(2 ** -26)).toBe(0);
    expect(Number.isNaN(roundToHalf(NaN))).toBe(true);
    expect(roundToHalf(-0.1)).toBeCloseTo(-0.0999755859375, 12);
    for (let h = 0; h < 0x7c00; h += 97) expect(toHalfBits(fromHalfBits(h))).toBe(h);
  });
});

describe('float16 tensors', () => {
  it('hold values rounded to float16 and read back as float32', async () => {
    const x = randArray(37, 1, -8, 8);
    const t = tensor(x, [37], { dtype: 'float16' });
    expect(t.dtype).toBe('float16');
    expect(t.itemSize).toBe(2);
    expect(t.byteSize).toBe(74);
    expect([...(await t.data())]).toEqual([...x].map(roundToHalf));
    expect([...(await full([5], 0.1, { dtype: 'float16' }).data())]).toEqual(Array(5).fill(roundToHalf(0.1)));
  });

  it('to() converts both ways (f32 → f16 rounds to nearest, f16 → f32 is exact)', async () => {
    const x = randArray(1001, 2, -100, 100);
    const h = tensor(x).to('float16');
    expect(h.dtype).toBe('float16');
    expect([...(await h.data())]).toEqual([...x].map(roundToHalf));
    const back = h.to('float32');
    expect(back.dtype).toBe('float32');
    expect([...(await back.data())]).toEqual([...x].map(roundToHalf));
    expect(h.to('float16').dtype).toBe('float16');
  });

  it('a conversion larger than one binding runs in aligned ranges', async () => {
    const d = await Device.create({ limits: { maxStorageBufferBindingSize: 1024 } });
    const x = randArray(3000, 3, -2, 2);
    const h = tensor(x, [3000], { device: d }).to('float16');
    expect([...(await h.data())]).toEqual([...x].map(roundToHalf));
    expect([...(await h.to('float32').data())]).toEqual([...x].map(roundToHalf));
    d.destroy();
  });

  it('cat and slice move float16 runs of odd length and offset (a copy kernel where no encoder copy can)', async () => {
    // [2, 3] ⧺ [2, 5] along axis 1: every row is a run of 3 or 5 halves at odd offsets.
    const a = randArray(6, 4, -4, 4);
    const b = randArray(10, 5, -4, 4);
    const y = cat([tensor(a, [2, 3], { dtype: 'float16' }), tensor(b, [2, 5], { dtype: 'float16' })], 1);
    const want = [...a.slice(0, 3), ...b.slice(0, 5), ...a.slice(3), ...b.slice(5)].map(roundToHalf);
    expect(y.dtype).toBe('float16');
    expect([...(await y.data())]).toEqual(want);
    expect([...(await slice(y, 1, 1, 6).data())]).toEqual([...want.slice(1, 6), ...want.slice(9, 14)]);
    // A run longer than one binding, at an odd offset: the copy goes in windows of one binding each.
    const d = await Device.create({ limits: { maxStorageBufferBindingSize: 1024 } });
    const x = randArray(2 * 1501, 6, -2, 2);
    const h = tensor(x, [2, 1501], { device: d, dtype: 'float16' });
    expect([...(await slice(h, 1, 1, 1500).data())]).toEqual([...x.slice(1, 1500), ...x.slice(1502, 3001)].map(roundToHalf));
    d.destroy();
  });

  it('take no part in autograd: training keeps float32', () => {
    expect(() => tensor([1, 2], [2], { dtype: 'float16', requiresGrad: true })).toThrow(ArgumentError);
    expect(() => tensor([1, 2], [2], { dtype: 'float16' }).requireGrad()).toThrow(/float32 only/);
    const w = tensor([1, 2], [2], { requiresGrad: true });
    expect(() => w.to('float16')).toThrow(/training keeps float32/);
    expect(noGrad(() => w.to('float16')).dtype).toBe('float16');
  });

  it('a kernel without a float16 path says so instead of running', () => {
    const def: KernelDef = { name: 'plain_copy', inputs: ['x'], outputs: ['y'], uniforms: [], workgroupSize: 64, body: 'y[idx] = x[idx];' };
    const x = tensor([1, 2, 3], [3], { dtype: 'float16' });
    const y = tensor([0, 0, 0], [3], { dtype: 'float16' });
    expect(() => getDefaultDevice().dispatch(def, { inputs: [arg(x)], outputs: [arg(y)], invocations: 3, label: 'test' })).toThrow(NotImplementedError);
    expect(() => getDefaultDevice().dispatch(def, { inputs: [arg(x)], outputs: [arg(y)], invocations: 3, label: 'test' })).toThrow(/plain_copy.*float16.*not implemented/);
  });

  it('a device without shader-f16 refuses them with a clear error', async () => {
    const gpu = getDefaultDevice().gpu!;
    const adapter = (await gpu.requestAdapter())!;
    const plain = await Device.create({ gpu, adapter, device: await adapter.requestDevice() });
    expect(plain.hasHalf).toBe(false);
    expect(() => tensor([1], [1], { device: plain, dtype: 'float16' })).toThrow(/shader-f16/);
    expect(() => tensor([1], [1], { device: plain }).to('float16')).toThrow(NotImplementedError);
    plain.destroy();
  });
});

describe('halfVariant source rewrite', () => {
  const conv = new Map([
    ['x', 'f32'],
    ['y', 'vec4<f32>'],
  ]);
  it('widens loads, narrows stores (also compound ones and nested indices), leaves the rest', () => {
    expect(rewriteHalfAccess('let a = x[i] + x [j]; y[k] = vec4<f32>(a);', conv, 't')).toBe('let a = f32(x[i]) + f32(x[j]); y[k] = vec4<f16>(vec4<f32>(a));');
    expect(rewriteHalfAccess('y[k + 1u] += x[i] * 2.0;', conv, 't')).toBe('y[k + 1u] = vec4<f16>(vec4<f32>(y[k + 1u]) + (f32(x[i]) * 2.0));');
    expect(rewriteHalfAccess('if (x[i] == 0.0) { s.x[i] = 1.0; } let n = arrayLength(&x);', conv, 't')).toBe('if (f32(x[i]) == 0.0) { s.x[i] = 1.0; } let n = arrayLength(&x);');
    expect(rewriteHalfAccess('let c = y[i].z; let xs = x2[i];', conv, 't')).toBe('let c = vec4<f32>(y[i]).z; let xs = x2[i];');
  });
  it('refuses what it cannot rewrite', () => {
    expect(() => rewriteHalfAccess('y[i].x = 1.0;', conv, 't')).toThrow(/component store/);
    expect(() => rewriteHalfAccess('f(&x[i]);', conv, 't')).toThrow(/pointer/);
  });
});
