/**
 * Dawn toggles per device (DeviceOptions.dawnToggles, trustedKernels, HNFNET_DAWN_TOGGLES), and
 * the one kernel path that reads past a tensor: the unpadded conv3d forward, which on a device
 * without robustness runs only where the buffer holds the bytes it over-reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, Device, convGeometry, tensor, type Tensor } from '../../src/index.js';
import { tiledForward, tilesFor } from '../../src/kernels/conv3d-tiled.js';
import { TRUSTED_KERNEL_TOGGLES, dawnFlags, mergeToggles, parseToggles } from '../../src/tensor/dawn-toggles.js';
import { expectClose, randArray } from '../helpers.js';
import { refConv3d } from '../kernels/conv3d-ref.js';

describe('toggle lists', () => {
  it('parses HNFNET_DAWN_TOGGLES, "-" disabling', () => {
    expect(parseToggles(' skip_validation, -lazy_clear_resource_on_first_use,,disable_robustness')).toEqual({
      enable: ['skip_validation', 'disable_robustness'],
      disable: ['lazy_clear_resource_on_first_use'],
    });
    expect(() => parseToggles('skip validation')).toThrow(/HNFNET_DAWN_TOGGLES: "skip validation" is not a Dawn toggle name/);
  });

  it('merges sets, once each, and refuses a toggle both on and off', () => {
    expect(mergeToggles({ enable: ['b', 'a'] }, undefined, { enable: ['a'], disable: ['c'] })).toEqual({ enable: ['a', 'b'], disable: ['c'] });
    expect(() => mergeToggles({ enable: ['a'] }, { disable: ['a'] })).toThrow(ArgumentError);
  });

  it("writes Dawn's create() flags", () => {
    expect(dawnFlags({ enable: ['a', 'b'], disable: ['c'] })).toEqual(['enable-dawn-features=a,b', 'disable-dawn-features=c']);
    expect(dawnFlags({})).toEqual([]);
  });
});

describe('devices with toggles', () => {
  let robust: Device;
  let bare: Device;
  beforeAll(async () => {
    robust = await Device.create();
    bare = await Device.create({ dawnToggles: { enable: ['disable_robustness'] } });
  });
  afterAll(() => {
    robust.destroy();
    bare.destroy();
  });

  it('records what was asked for; trustedKernels and the environment variable add theirs', async () => {
    expect(robust.dawnToggles).toEqual({});
    expect(robust.robustBufferAccess).toBe(true);
    expect(bare.dawnToggles).toEqual({ enable: ['disable_robustness'], disable: [] });
    expect(bare.robustBufferAccess).toBe(false);
    const trusted = await Device.create({ trustedKernels: true });
    expect(trusted.dawnToggles).toEqual(mergeToggles(TRUSTED_KERNEL_TOGGLES));
    trusted.destroy();
    await expect(Device.create({ device: robust.gpuDevice, dawnToggles: { enable: ['skip_validation'] } })).rejects.toThrow(/a gpu, adapter or device handed in already has its toggles/);
    process.env.HNFNET_DAWN_TOGGLES = 'disable_workgroup_init';
    try {
      const fromEnv = await Device.create({ trustedKernels: true });
      expect(fromEnv.dawnToggles).toEqual(mergeToggles(TRUSTED_KERNEL_TOGGLES, { enable: ['disable_workgroup_init'] }));
      fromEnv.destroy();
    } finally {
      delete process.env.HNFNET_DAWN_TOGGLES;
    }
  });

  /** One unpadded (1×1×1) conv3d forward on `device`: its values and the dispatches it made. */
  async function k1Forward(device: Device, xShape: number[]): Promise<{ y: Float32Array; dispatches: number; slack: number }> {
    const x = tensor(randArray(xShape.reduce((a, b) => a * b), 1), xShape, { device });
    const w = tensor(randArray(5 * xShape[1]!, 2), [5, xShape[1]!, 1, 1, 1], { device });
    const g = convGeometry(x, w, null, { stride: 1, padding: 0 });
    const before = device.dispatches;
    const y: Tensor = tiledForward(x, w, null, g, tilesFor(device));
    const dispatches = device.dispatches - before;
    const out = await y.data();
    const slack = x.buffer.size - x.byteSize;
    [x, w, y].forEach((t) => t.dispose());
    return { y: out, dispatches, slack };
  }

  it('without robustness, pads a copy where the buffer has no room for the over-read, and reads x itself where it has', async () => {
    // 4·4·4·8 floats fill their 2 KiB buffer exactly; 3·4·5·8 leave 128 bytes, more than a tile over-reads.
    const shapes: [number[], boolean][] = [
      [[1, 4, 4, 4, 8], true],
      [[1, 3, 4, 5, 8], false],
    ];
    for (const [xShape, slackFree] of shapes) {
      const a = await k1Forward(robust, xShape);
      const b = await k1Forward(bare, xShape);
      expect(a.slack === 0).toBe(slackFree);
      expect(b.dispatches - a.dispatches, `x ${xShape.join('×')}`).toBe(slackFree ? 1 : 0);
      const ref = refConv3d({
        x: randArray(xShape.reduce((p, q) => p * q), 1),
        xShape,
        w: randArray(5 * xShape[1]!, 2),
        wShape: [5, xShape[1]!, 1, 1, 1],
        b: null,
        stride: [1, 1, 1],
        pad: [0, 0, 0],
      });
      expectClose(a.y, ref, 1e-5, 1e-5, 'robust');
      expectClose(b.y, ref, 1e-5, 1e-5, 'without robustness');
    }
  });
});
