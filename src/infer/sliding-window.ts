import { HnfnetError } from '../tensor/errors.js';
import { noGrad, tensor, type Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { sigmoid } from '../kernels/unary.js';
import type { Device } from '../tensor/device.js';

/** Shape [C, D, H, W] of a host volume (W fastest, i.e. NIfTI's x-fastest memory order). */
export type VolumeShape = readonly [number, number, number, number];
type Dims = [number, number, number];

/** A network: a batch of windows [B, C, d, h, w] in, logits [B, K, d, h, w] out. */
export type Predictor = (batch: Tensor) => Tensor;

export interface SlidingWindowOptions {
  /** Window size per axis (a number means a cube); default 128. */
  window?: number | readonly [number, number, number];
  /** Fraction of a window shared with its neighbour, in [0, 1); default 0.5. */
  overlap?: number;
  /** How overlapping windows are averaged: 'gaussian' (σ = sigmaScale · window, MONAI) or 'constant'. */
  blend?: 'gaussian' | 'constant';
  sigmaScale?: number;
  /** Windows per network call; default 1. */
  batchSize?: number;
  /**
   * Test-time augmentation: 8 = identity plus the 7 flip combinations of the three spatial
   * axes, 1 = none, or an explicit list of axis sets (0 = D, 1 = H, 2 = W).
   */
  tta?: number | readonly (readonly number[])[];
  /** Applied to the logits before averaging; 'sigmoid' for region outputs. */
  activation?: 'sigmoid' | 'none';
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  device?: Device;
  /**
   * After each window is read back (the GPU queue drained), measure the kernel variants its
   * shapes queued (`device.tuner.tunePending()`, within the tuner's budget), so later windows
   * run the fastest. Off by default: results then change by float rounding after the first window.
   */
  tune?: boolean;
}

/** All subsets of {D, H, W}, identity first. */
export function flipSets(tta: number | readonly (readonly number[])[]): number[][] {
  if (typeof tta !== 'number') return tta.map((s) => [...s]);
  if (tta !== 1 && tta !== 8) throw new HnfnetError(`tta must be 1 or 8 (or a list of axis sets), got ${tta}`);
  const all: number[][] = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]];
  return all.slice(0, tta);
}

/** Window starts along one axis (MONAI's scheme): step = ⌊w·(1−overlap)⌋, the last window pulled back inside. */
export function windowStarts(size: number, win: number, overlap: number): number[] {
  if (size <= win) return [0];
  const step = Math.max(1, Math.floor(win * (1 - overlap)));
  const n = Math.ceil((size - win) / step) + 1;
  const starts: number[] = [];
  for (let i = 0; i < n; i++) starts.push(Math.min(i * step, size - win));
  return [...new Set(starts)];
}

/** Importance of each voxel of a window: a separable Gaussian (peak 1, no zeros) or all ones. */
export function blendWeights(win: Dims, mode: 'gaussian' | 'constant', sigmaScale = 0.125): Float32Array {
  const n = win[0] * win[1] * win[2];
  const w = new Float32Array(n);
  if (mode === 'constant') return w.fill(1);
  const axis = win.map((s) => {
    const sigma = sigmaScale * s;
    const c = (s - 1) / 2;
    return Float64Array.from({ length: s }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)));
  });
  let min = Infinity;
  for (let d = 0, k = 0; d < win[0]; d++)
    for (let h = 0; h < win[1]; h++)
      for (let x = 0; x < win[2]; x++, k++) {
        const v = axis[0]![d]! * axis[1]![h]! * axis[2]![x]!;
        w[k] = v;
        if (v > 0 && v < min) min = v;
      }
  // Like MONAI: no zero weights, so every voxel is covered even where only window corners reach.
  for (let k = 0; k < n; k++) if (!(w[k]! > 0)) w[k] = min;
  return w;
}

/**
 * Segments a whole volume with windows: each window (under each flip, for each predictor)
 * is run on the GPU, read back, and accumulated on the host with its blend weight. Memory
 * on the GPU is one batch of windows; on the host, the accumulators.
 * Returns the averaged (activated) outputs [K, D, H, W].
 */
export async function slidingWindowInference(
  image: Float32Array,
  shape: VolumeShape,
  predictors: readonly Predictor[],
  opts: SlidingWindowOptions = {},
): Promise<{ output: Float32Array; channels: number }> {
  const [C, D, H, W] = shape;
  if (image.length !== C * D * H * W) throw new HnfnetError(`sliding window: image has ${image.length} values, shape [${shape.join(', ')}] needs ${C * D * H * W}`);
  if (predictors.length === 0) throw new HnfnetError('sliding window: no model given');
  const win: Dims = typeof opts.window === 'number' || opts.window === undefined ? [opts.window ?? 128, opts.window ?? 128, opts.window ?? 128] : [opts.window[0], opts.window[1], opts.window[2]];
  const overlap = opts.overlap ?? 0.5;
  if (!(overlap >= 0 && overlap < 1)) throw new HnfnetError(`sliding window: overlap must be in [0, 1), got ${overlap}`);
  // A volume smaller than the window is padded (at the end) up to it; the padding is dropped at the end.
  const dims: Dims = [Math.max(D, win[0]), Math.max(H, win[1]), Math.max(W, win[2])];
  const starts = [windowStarts(dims[0], win[0], overlap), windowStarts(dims[1], win[1], overlap), windowStarts(dims[2], win[2], overlap)];
  const windows: Dims[] = [];
  for (const a of starts[0]!) for (const b of starts[1]!) for (const c of starts[2]!) windows.push([a, b, c]);
  const flips = flipSets(opts.tta ?? 1);
  const weights = blendWeights(win, opts.blend ?? 'gaussian', opts.sigmaScale ?? 0.125);
  const batch = Math.max(1, opts.batchSize ?? 1);
  const wvox = win[0] * win[1] * win[2];
  const plane = dims[0] * dims[1] * dims[2];
  let K = 0;
  let acc: Float32Array | null = null;
  const wsum = new Float32Array(plane);
  const total = windows.length * flips.length * predictors.length;
  let done = 0;

  // index maps from window coordinates to volume coordinates, per axis, with and without flip
  const axisMap = (start: number, len: number, flip: boolean) => Int32Array.from({ length: len }, (_, i) => start + (flip ? len - 1 - i : i));

  for (let b0 = 0; b0 < windows.length; b0 += batch) {
    const group = windows.slice(b0, b0 + batch);
    for (const flip of flips) {
      const maps = group.map((s) => [0, 1, 2].map((a) => axisMap(s[a]!, win[a]!, flip.includes(a))) as [Int32Array, Int32Array, Int32Array]);
      const input = new Float32Array(group.length * C * wvox);
      maps.forEach(([md, mh, mw], g) => {
        for (let c = 0; c < C; c++) {
          const base = (g * C + c) * wvox;
          let k = 0;
          for (let d = 0; d < win[0]; d++) {
            const sd = md[d]!;
            for (let h = 0; h < win[1]; h++) {
              const sh = mh[h]!;
              const inside = sd < D && sh < H;
              const row = ((c * D + sd) * H + sh) * W;
              for (let x = 0; x < win[2]; x++, k++) {
                const sx = mw[x]!;
                input[base + k] = inside && sx < W ? image[row + sx]! : 0;
              }
            }
          }
        }
      });
      // One upload serves every model of an ensemble.
      const x = tensor(input, [group.length, C, win[0], win[1], win[2]], opts.device ? { device: opts.device } : {});
      try {
        for (const predict of predictors) {
          if (opts.signal?.aborted) throw new HnfnetError('sliding window inference cancelled');
          const y = noGrad(() => tidy(() => {
            const logits = predict(x);
            return opts.activation === 'none' ? logits : sigmoid(logits);
          }));
          const probs = await y.data();
          const k = y.shape[1]!;
          y.dispose();
          if (opts.tune && x.device.tuner.mode !== 'off' && x.device.tuner.pending > 0) await x.device.tuner.tunePending();
          if (!acc) {
            K = k;
            acc = new Float32Array(K * plane);
          } else if (k !== K) throw new HnfnetError(`sliding window: models disagree on output channels (${K} vs ${k})`);
          maps.forEach(([md, mh, mw], g) => {
            for (let ch = 0; ch < K; ch++) {
              const src = (g * K + ch) * wvox;
              const dstBase = ch * plane;
              let i = 0;
              for (let d = 0; d < win[0]; d++) {
                const rowD = md[d]! * dims[1];
                for (let h = 0; h < win[1]; h++) {
                  const row = (rowD + mh[h]!) * dims[2];
                  for (let xx = 0; xx < win[2]; xx++, i++) acc![dstBase + row + mw[xx]!]! += probs[src + i]! * weights[i]!;
                }
              }
            }
            let i = 0;
            for (let d = 0; d < win[0]; d++) {
              const rowD = md[d]! * dims[1];
              for (let h = 0; h < win[1]; h++) {
                const row = (rowD + mh[h]!) * dims[2];
                for (let xx = 0; xx < win[2]; xx++, i++) wsum[row + mw[xx]!]! += weights[i]!;
              }
            }
          });
          done += group.length;
          opts.onProgress?.(done, total);
        }
      } finally {
        x.dispose();
      }
    }
  }
  // Normalise and drop the padding.
  const out = new Float32Array(K * D * H * W);
  for (let ch = 0; ch < K; ch++)
    for (let d = 0; d < D; d++)
      for (let h = 0; h < H; h++) {
        const srcRow = (d * dims[1] + h) * dims[2];
        const dstRow = ((ch * D + d) * H + h) * W;
        for (let x = 0; x < W; x++) out[dstRow + x] = acc![ch * plane + srcRow + x]! / wsum[srcRow + x]!;
      }
  return { output: out, channels: K };
}
