import { beforeAll, describe, expect, it } from 'vitest';
import { Device, DeviceLostError, GPUOpError, NoAdapterError, relu, tensor, type KernelDef } from '../../src/index.js';
import { getDevice } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

describe('device errors', () => {
  it('no adapter: the message names what is missing and the package that provides it', async () => {
    const fakeGPU = { requestAdapter: async () => null } as unknown as GPU;
    const p = Device.create({ gpu: fakeGPU });
    await expect(p).rejects.toThrow(NoAdapterError);
    await expect(Device.create({ gpu: fakeGPU })).rejects.toThrow(/mesa-vulkan-drivers/);
  });

  it('a WebGPU validation error is rethrown naming the op and shapes', async () => {
    const d = await getDevice();
    // A kernel whose WGSL does not compile stands in for any validation failure.
    const broken: KernelDef = { name: 'broken_kernel', inputs: ['x'], outputs: ['y'], uniforms: [], workgroupSize: 64, body: '  y[idx] = x[idx] + undefined_name;' };
    const x = tensor([1, 2, 3], [3]);
    const y = tensor([0, 0, 0], [3]);
    d.dispatch(broken, { inputs: [{ buffer: x.buffer }], outputs: [{ buffer: y.buffer }], invocations: 3, label: 'x [3]' });
    const err = await d.sync().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(GPUOpError);
    expect(String(err)).toMatch(/broken_kernel/);
    // The device stays usable afterwards.
    expect(Array.from(await relu(tensor([-1, 2], [2])).data())).toEqual([0, 2]);
  });

  it('a lost device becomes a clear error on the next use', async () => {
    const d = await Device.create();
    const { tensor: mk } = await import('../../src/index.js');
    const t = mk([1, 2, 3], [3], { device: d });
    d.destroy();
    // lost resolves asynchronously
    for (let i = 0; i < 50 && !d.isLost; i++) await new Promise((r) => setTimeout(r, 10));
    expect(d.isLost).toBe(true);
    expect(() => relu(t)).toThrow(DeviceLostError);
    expect(() => relu(t)).toThrow(/GPU device lost \(reason: destroyed/);
    // The remedy names the API that exists.
    expect(() => relu(t)).toThrow(/make a new device with `await init\(\)` \(or Device\.create\(\)\)/);
  });
});
