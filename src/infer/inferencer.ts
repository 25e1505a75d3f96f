/**
 * Whole-case segmentation: the paper's inference recipe from a loaded BraTS case to labels
 * on the case's own grid. Portable (no file system): the CLI and the browser demo share it.
 */
import type { BratsCase } from '../data/brats-case.js';
import { bboxOfMask, centerBox, cropVolume, uncropVolume, type Box3 } from '../data/crop.js';
import { preprocessCase } from '../data/preprocess.js';
import type { Dims3 } from '../data/volume.js';
import type { Device } from '../tensor/device.js';
import { regionsToSegmentation, type PostprocessOptions } from './postprocess.js';
import { slidingWindowInference, type Predictor, type SlidingWindowOptions } from './sliding-window.js';

export interface SegmentOptions extends Omit<SlidingWindowOptions, 'activation'>, PostprocessOptions {
  /**
   * Centre crop [X, Y, Z] applied before the windows (each side capped at the volume's); when
   * the brain does not fit inside it, the brain's bounding box is used instead. 'brain' uses
   * the bounding box directly. Default [160, 192, 144]: it holds the brain of BraTS cases
   * (240×240×155, 1 mm, SRI24 space) while cutting the volume by 2.4×.
   */
  crop?: Dims3 | 'brain';
  /** Also return the region probabilities on the full grid. */
  keepProbabilities?: boolean;
  device?: Device;
}

export interface Segmentation {
  /** Internal labels (1 NCR, 2 ED, 3 ET) on the case's full grid, x-fastest. */
  labels: Uint8Array;
  /** [3, Z, Y, X] probabilities of WT, TC, ET when asked for. */
  probabilities: Float32Array | null;
  /** The box that was segmented, in the case's voxels. */
  box: Box3;
  /** Network calls made (windows × flips × models). */
  windows: number;
}

export const DEFAULT_CROP: Dims3 = [160, 192, 144];

function contains(outer: Box3, inner: Box3): boolean {
  return [0, 1, 2].every((a) => inner.start[a]! >= outer.start[a]! && inner.start[a]! + inner.size[a]! <= outer.start[a]! + outer.size[a]!);
}

/** The inference crop: a centre box that holds the brain, or the brain's bounding box. */
export function inferenceBox(brain: Uint8Array, dims: Dims3, crop: Dims3 | 'brain' = DEFAULT_CROP): Box3 {
  const bbox = bboxOfMask(brain, dims) ?? { start: [0, 0, 0] as Dims3, size: [...dims] as Dims3 };
  if (crop === 'brain') return bbox;
  const centre = centerBox(dims, [0, 1, 2].map((a) => Math.min(crop[a]!, dims[a]!)) as Dims3);
  return contains(centre, bbox) ? centre : bbox;
}

export async function segmentCase(c: BratsCase, models: readonly Predictor[], opts: SegmentOptions = {}): Promise<Segmentation> {
  // Normalise over the whole volume (the brain statistics do not depend on the crop).
  const pre = preprocessCase(c, { cropToBrain: false });
  const box = inferenceBox(pre.mask, c.dims, opts.crop ?? DEFAULT_CROP);
  const image = cropVolume(pre.images, c.dims, box, pre.channels);
  const [sx, sy, sz] = box.size;
  let calls = 0;
  const { output } = await slidingWindowInference(image, [pre.channels, sz, sy, sx], models, {
    ...opts,
    activation: 'sigmoid',
    onProgress: (done, total) => {
      calls = done;
      opts.onProgress?.(done, total);
    },
  });
  const voxels = sx * sy * sz;
  // Voxels outside the brain cannot be tumour (and must not count towards the ET rule).
  const brain = cropVolume(pre.mask, c.dims, box);
  for (let ch = 0; ch < 3; ch++) for (let i = 0; i < voxels; i++) if (!brain[i]) output[ch * voxels + i] = 0;
  const labels = uncropVolume(regionsToSegmentation(output, voxels, opts), box, c.dims);
  const probabilities = opts.keepProbabilities ? uncropVolume(output, box, c.dims, 3) : null;
  return { labels, probabilities, box, windows: calls };
}
