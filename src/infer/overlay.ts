/**
 * A figure of a segmentation: axial, coronal and sagittal slices through the tumour's
 * centre, the image in grey and the labels overlaid in the usual BraTS colours.
 */
import { LABELS } from '../data/brats-case.js';
import type { Dims3 } from '../data/volume.js';

export const LABEL_COLOURS: Record<number, [number, number, number]> = {
  [LABELS.NCR]: [230, 40, 40],
  [LABELS.ED]: [40, 200, 70],
  [LABELS.ET]: [250, 220, 30],
};

export interface OverlayFigure {
  rgba: Uint8Array;
  width: number;
  height: number;
  /** The slice indices shown: [x of sagittal, y of coronal, z of axial]. */
  slices: Dims3;
}

/** Centre of the labelled voxels (the volume's centre when there are none). */
function labelCentre(labels: Uint8Array, dims: Dims3): Dims3 {
  const [X, Y] = dims;
  let n = 0;
  const s = [0, 0, 0];
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    n++;
    s[0]! += i % X;
    s[1]! += Math.floor(i / X) % Y;
    s[2]! += Math.floor(i / (X * Y));
  }
  return n ? (s.map((v) => Math.round(v / n)) as Dims3) : (dims.map((d) => Math.floor(d / 2)) as Dims3);
}

/** Grey levels from the 1st to the 99th percentile of the nonzero voxels. */
function window(image: Float32Array): [number, number] {
  const v = Array.from(image.filter((x) => x !== 0)).sort((a, b) => a - b);
  if (!v.length) return [0, 1];
  const lo = v[Math.floor(0.01 * (v.length - 1))]!;
  const hi = v[Math.floor(0.99 * (v.length - 1))]!;
  return [lo, hi > lo ? hi : lo + 1];
}

/** Nearest-neighbour enlargement, so small volumes still make a legible figure. */
function upscale(rgba: Uint8Array, w: number, h: number, f: number): Uint8Array {
  if (f === 1) return rgba;
  const out = new Uint8Array(w * f * h * f * 4);
  for (let y = 0; y < h * f; y++)
    for (let x = 0; x < w * f; x++) {
      const s = ((Math.floor(y / f) * w + Math.floor(x / f)) * 4);
      out.set(rgba.subarray(s, s + 4), (y * w * f + x) * 4);
    }
  return out;
}

export function renderOverlay(
  image: Float32Array,
  labels: Uint8Array | null,
  dims: Dims3,
  opts: { opacity?: number; gap?: number; minHeight?: number } = {},
): OverlayFigure {
  const [X, Y, Z] = dims;
  const [cx, cy, cz] = labels ? labelCentre(labels, dims) : (dims.map((d) => Math.floor(d / 2)) as Dims3);
  const [lo, hi] = window(image);
  const alpha = opts.opacity ?? 0.5;
  const gap = opts.gap ?? 4;
  // Panels: axial (x across, y down), coronal (x across, z up), sagittal (y across, z up).
  const panels: { w: number; h: number; at: (u: number, v: number) => number }[] = [
    { w: X, h: Y, at: (u, v) => (cz * Y + v) * X + u },
    { w: X, h: Z, at: (u, v) => ((Z - 1 - v) * Y + cy) * X + u },
    { w: Y, h: Z, at: (u, v) => ((Z - 1 - v) * Y + u) * X + cx },
  ];
  const width = panels.reduce((a, p) => a + p.w, 0) + gap * (panels.length - 1);
  const height = Math.max(...panels.map((p) => p.h));
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
  let x0 = 0;
  for (const p of panels) {
    for (let v = 0; v < p.h; v++)
      for (let u = 0; u < p.w; u++) {
        const k = p.at(u, v);
        const g = Math.max(0, Math.min(255, Math.round(((image[k]! - lo) / (hi - lo)) * 255)));
        let rgb: [number, number, number] = [g, g, g];
        const c = labels ? LABEL_COLOURS[labels[k]!] : undefined;
        if (c) rgb = [0, 1, 2].map((j) => Math.round((1 - alpha) * g + alpha * c[j]!)) as [number, number, number];
        const o = (v * width + x0 + u) * 4;
        rgba[o] = rgb[0];
        rgba[o + 1] = rgb[1];
        rgba[o + 2] = rgb[2];
      }
    x0 += p.w + gap;
  }
  const f = Math.max(1, Math.floor((opts.minHeight ?? 256) / height));
  return { rgba: upscale(rgba, width, height, f), width: width * f, height: height * f, slices: [cx, cy, cz] };
}
