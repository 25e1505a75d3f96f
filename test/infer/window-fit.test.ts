/** The demo's window choice under adapter limits (pure logic; no browser). */
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../../src/hnfnet/config.js';
import { fittingWindow, largestBufferBytes, shrinkNote, windowOptions } from '../../src/infer/window-fit.js';

const MiB = 2 ** 20;

describe('demo window sizes', () => {
  it('offers only multiples of the model’s downsampling factor', () => {
    const sizes = windowOptions(presetConfig('hnfnetv2'), { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 40 }).map((o) => o.size);
    expect(sizes).toEqual([32, 48, 64, 96, 128, 160]);
    expect(sizes.every((s) => s % 16 === 0)).toBe(true);
  });

  it('marks windows beyond the buffer limit and falls back to the largest that fits', () => {
    const cfg = presetConfig('hnfnetv2');
    // A browser's default limits: 128 MiB per binding, 256 MiB per buffer.
    const opts = windowOptions(cfg, { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB });
    const fits = opts.filter((o) => o.fits).map((o) => o.size);
    expect(fits.length).toBeGreaterThan(0);
    expect(fits).not.toContain(128);
    expect(fittingWindow(opts, 128)).toBe(fits[fits.length - 1]);
    expect(fittingWindow(opts, 32)).toBe(32);
    // The binding limit does not shrink a window (tensors are bound in ranges)...
    expect(windowOptions(cfg, { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 4096 * MiB }).find((o) => o.size === 128)!.fits).toBe(true);
    // The note says it is memory, and which limit.
    const note = shrinkNote(opts.find((o) => o.size === 128)!, fittingWindow(opts, 128)!, { maxBufferSize: 256 * MiB });
    expect(note).toContain('maxBufferSize 256 MiB');
    expect(note).toContain(`using ${fittingWindow(opts, 128)}³`);
    expect(note).toMatch(/memory/);
    // ...and nothing fits a 1 MiB adapter: no window is offered.
    expect(fittingWindow(windowOptions(cfg, { maxStorageBufferBindingSize: MiB, maxBufferSize: MiB }), 128)).toBeNull();
  });

  it('grows with the cube of the window, and the U-Net needs more than the tiny model', () => {
    const tiny = presetConfig('tiny');
    expect(largestBufferBytes(tiny, 128) / largestBufferBytes(tiny, 64)).toBeGreaterThan(6);
    expect(largestBufferBytes(presetConfig('unet3d'), 128)).toBeGreaterThan(largestBufferBytes(tiny, 128));
  });

  it('hnfnetv2-web: windows of multiples of 32, and a 128³ window inside a browser’s default limits', () => {
    const cfg = presetConfig('hnfnetv2-web');
    const opts = windowOptions(cfg, { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB });
    expect(opts.map((o) => o.size)).toEqual([32, 64, 96, 128, 160]);
    expect(fittingWindow(opts, 128)).toBe(128);
    // Its largest buffers at 128³ are the window's own input and logits (4 channels at 128³), not
    // anything inside, which runs at 64³.
    expect(largestBufferBytes(cfg, 128)).toBe(4 * 4 * 128 ** 3);
  });
});
