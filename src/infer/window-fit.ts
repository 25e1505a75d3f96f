/**
 * Which sliding-window sizes a model can run with under an adapter's buffer limits. A
 * tensor is one buffer, and WebGPU cannot allocate one beyond maxBufferSize (kernels bind
 * tensors larger than maxStorageBufferBindingSize in ranges, so that limit does not shrink
 * a window). Browsers' default maxBufferSize (256 MiB) is below what a 128³ window of the
 * paper's models needs, so the demo checks before it runs rather than failing in the middle
 * of a case, and `hnfnet infer` names the window that fits when the one asked for does not.
 */
import type { ModelConfig } from '../hnfnet/config.js';
import { inputStride, sizeMultiple } from '../hnfnet/config.js';

export const WINDOW_CHOICES = [32, 48, 64, 96, 128, 160] as const;

export interface BufferLimits {
  /** Not a bound on windows any more (tensors are bound in ranges); kept so device.limits passes as is. */
  maxStorageBufferBindingSize?: number;
  maxBufferSize: number;
}

/**
 * An estimate of the largest single buffer one window needs: the widest activation, as the
 * zero-padded copy the tiled conv3d makes of its input (one voxel of padding on each side).
 * HNF-Net's widest is the concatenation of all branches at 1/2 scale; the U-Net's is its
 * first decoder level, where the skip and the upsampled features sit side by side.
 */
export function largestBufferBytes(cfg: ModelConfig, window: number, batch = 1): number {
  // A network with inputStride 2 runs on a grid of half the window; only its input and its
  // upsampled logits are on the window's own grid.
  const s = inputStride(cfg);
  const inner = window / s;
  const full = (inner + 2) ** 3;
  const half = (inner / 2 + 2) ** 3;
  const widths = cfg.widths.reduce((a, b) => a + b, 0);
  const outer = s === 1 ? 0 : Math.max(cfg.inChannels, cfg.outChannels) * window ** 3;
  const channelsVoxels = cfg.kind === 'unet3d' ? 2 * cfg.widths[0]! * full : Math.max(cfg.stemChannels * full, widths * half, cfg.inChannels * full, outer);
  return 4 * batch * channelsVoxels;
}

export interface WindowOption {
  size: number;
  bytes: number;
  fits: boolean;
}

/** Every window choice the model accepts (a multiple of its downsampling factor), and whether it fits. */
export function windowOptions(cfg: ModelConfig, limits: BufferLimits, batch = 1): WindowOption[] {
  const cap = limits.maxBufferSize;
  const m = sizeMultiple(cfg);
  return WINDOW_CHOICES.filter((s) => s % m === 0).map((size) => {
    const bytes = largestBufferBytes(cfg, size, batch);
    return { size, bytes, fits: bytes <= cap };
  });
}

/** The requested window if it fits, else the largest smaller one that does (null if none). */
export function fittingWindow(options: readonly WindowOption[], wanted: number): number | null {
  const ok = options.filter((o) => o.fits && o.size <= wanted);
  return ok.length ? ok[ok.length - 1]!.size : null;
}

/**
 * Why a window was shrunk, for the note shown to the user: only memory (the adapter's
 * largest buffer) ever shrinks one, and a smaller window can change the results slightly
 * (more windows overlap, each sees less context).
 */
export function shrinkNote(wanted: WindowOption, used: number, limits: BufferLimits): string {
  return `Window ${wanted.size}³ needs a buffer of about ${mib(wanted.bytes)}, more memory than this adapter's largest buffer (maxBufferSize ${mib(limits.maxBufferSize)}); using ${used}³ instead, which can change the results slightly.`;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

/**
 * The largest window up to `wanted` that every model of an ensemble fits in (null if some model
 * fits in none): what to suggest when a window was too large for the device.
 */
export function ensembleFittingWindow(configs: readonly ModelConfig[], limits: BufferLimits, wanted: number, batch = 1): number | null {
  const fits = configs.map((cfg) => fittingWindow(windowOptions(cfg, limits, batch), wanted));
  return fits.some((w) => w === null) ? null : Math.min(...(fits as number[]));
}
