/**
 * Validation during training: each held-out case, whole (brain-cropped, as preprocessed), through
 * the sliding-window inferencer in eval mode (the EM bases are left alone), thresholded, and
 * scored with Dice per region against its labels. Cheaper settings than final inference by
 * default (no TTA, small overlap); HD95 is left to `hnfnet eval` on the written predictions.
 */
import type { CaseProvider } from '../data/loader.js';
import { labelsToRegions, REGIONS } from '../data/regions.js';
import type { Device } from '../tensor/device.js';
import { HnfnetError } from '../tensor/errors.js';
import type { ValidationResult } from './checkpoint.js';
import type { SegmentationModel } from '../hnfnet/build.js';
import { slidingWindowInference } from '../infer/sliding-window.js';

export interface ValidationOptions {
  /** Window [x, y, z]. */
  window: readonly [number, number, number];
  overlap: number;
  tta: 1 | 8;
  threshold: number;
  device?: Device;
  onCase?: (done: number, total: number) => void;
}

/** Dice of (probs > threshold) against a 0/1 mask, both one region's channel; two empty masks score 1 (BraTS). */
export function regionDice(probs: ArrayLike<number>, mask: ArrayLike<number>, threshold: number, offset = 0, n = mask.length): number {
  let tp = 0;
  let p = 0;
  let g = 0;
  for (let i = 0; i < n; i++) {
    const a = probs[offset + i]! > threshold ? 1 : 0;
    const b = mask[offset + i]! > 0 ? 1 : 0;
    tp += a & b;
    p += a;
    g += b;
  }
  return p + g === 0 ? 1 : (2 * tp) / (p + g);
}

/** Mean Dice per region over the cases `indices` of `provider`; `epoch`/`step` label the result. */
export async function validateCases(
  model: SegmentationModel,
  provider: CaseProvider,
  indices: readonly number[],
  opts: ValidationOptions,
  at: { epoch: number; step: number },
): Promise<ValidationResult> {
  if (indices.length === 0) throw new HnfnetError('validation: no cases');
  const started = performance.now();
  const wasTraining = model.training;
  model.eval();
  const sums = [0, 0, 0];
  try {
    for (const [k, index] of indices.entries()) {
      const pc = await provider.get(index);
      if (!pc.labels) throw new HnfnetError(`validation: case ${pc.id} has no segmentation`);
      const [X, Y, Z] = pc.dims;
      const { output, channels } = await slidingWindowInference(pc.images, [pc.channels, Z, Y, X], [(x) => model.call(x)], {
        // The inferencer's window is [D, H, W]; configs speak [x, y, z].
        window: [opts.window[2], opts.window[1], opts.window[0]],
        overlap: opts.overlap,
        tta: opts.tta,
        activation: 'sigmoid',
        ...(opts.device ? { device: opts.device } : {}),
      });
      if (channels !== 3) throw new HnfnetError(`validation: the model gives ${channels} output channels, region training needs 3 (WT, TC, ET)`);
      const n = X * Y * Z;
      const gt = labelsToRegions(pc.labels, new Uint8Array(3 * n));
      for (let r = 0; r < 3; r++) sums[r]! += regionDice(output, gt, opts.threshold, r * n, n);
      opts.onCase?.(k + 1, indices.length);
    }
  } finally {
    model.train(wasTraining);
  }
  const dice = Object.fromEntries(REGIONS.map((r, i) => [r, sums[i]! / indices.length])) as ValidationResult['dice'];
  return { ...at, dice, mean: (dice.WT + dice.TC + dice.ET) / 3, cases: indices.length, seconds: (performance.now() - started) / 1000 };
}
