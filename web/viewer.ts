/**
 * Three orthogonal slices of a case with a label overlay, on plain canvases.
 *
 * Voxels are x-fastest over [X, Y, Z] (src/data/volume.ts). Views are drawn in voxel space,
 * one canvas pixel per voxel, and scaled by CSS with the voxel spacing as aspect: axial
 * (fixed z) shows x across and y down; coronal (fixed y) and sagittal (fixed x) show z up.
 * For BraTS's LPS-stored volumes that puts anterior at the top of the axial view and
 * superior at the top of the others.
 */
import type { Dims3 } from '../src/data/volume.js';
import { percentiles } from '../src/data/stats.js';
import type { CaseView } from './case-view.js';
import { h } from './dom.js';

export type Plane = 'axial' | 'coronal' | 'sagittal';
export const PLANES: readonly Plane[] = ['axial', 'coronal', 'sagittal'];

/** Internal labels 1 NCR/NET, 2 ED, 3 ET in the usual BraTS colours. */
export const LABEL_COLOURS: Readonly<Record<number, readonly [number, number, number]>> = {
  1: [255, 40, 40],
  2: [40, 220, 40],
  3: [255, 230, 0],
};
export const LABEL_NAMES: Readonly<Record<number, string>> = { 1: 'NCR/NET', 2: 'ED', 3: 'ET' };

/** Which volume axis a plane fixes, and which run across and down its view. */
const GEOMETRY: Record<Plane, { fixed: 0 | 1 | 2; across: 0 | 1 | 2; down: 0 | 1 | 2; flipDown: boolean }> = {
  axial: { fixed: 2, across: 0, down: 1, flipDown: false },
  coronal: { fixed: 1, across: 0, down: 2, flipDown: true },
  sagittal: { fixed: 0, across: 1, down: 2, flipDown: true },
};

export interface ViewerCase {
  dims: Dims3;
  spacing: Dims3;
  images: readonly Float32Array[];
  modalities: readonly string[];
}

interface View {
  canvas: HTMLCanvasElement;
  slider: HTMLInputElement;
  caption: HTMLElement;
}

export class SliceViewer implements CaseView {
  readonly kind = 'slices';
  readonly element: HTMLElement;
  private readonly views = new Map<Plane, View>();
  private volume: ViewerCase | null = null;
  private labels: Uint8Array | null = null;
  private modality = 0;
  private opacity = 0.5;
  /** The crosshair voxel [x, y, z]: each plane shows the slice through it. */
  private cursor: [number, number, number] = [0, 0, 0];
  /** Display window (low, high) per modality, from the brain's 1st and 99th percentiles. */
  private windows: [number, number][] = [];

  constructor(private readonly maxViewPx = 300) {
    this.element = h('div', { class: 'hnf-views' });
    for (const plane of PLANES) {
      const canvas = h('canvas', { class: 'hnf-slice', 'data-plane': plane, width: 1, height: 1 });
      const slider = h('input', { type: 'range', min: 0, max: 0, value: 0, 'aria-label': `${plane} slice` });
      const caption = h('span', { class: 'hnf-caption' });
      slider.addEventListener('input', () => {
        this.cursor[GEOMETRY[plane].fixed] = Number(slider.value);
        this.render();
      });
      canvas.addEventListener('click', (ev) => this.pick(plane, ev));
      this.views.set(plane, { canvas, slider, caption });
      this.element.append(h('figure', { class: 'hnf-view' }, canvas, h('figcaption', {}, h('b', {}, plane), ' ', caption), slider));
    }
  }

  setCase(v: ViewerCase): void {
    this.volume = v;
    this.labels = null;
    this.windows = v.images.map(displayWindow);
    this.modality = Math.min(this.modality, v.images.length - 1);
    // Start at the brightest FLAIR-ish spot would be clever; the centre is predictable.
    this.cursor = v.dims.map((d) => Math.floor(d / 2)) as [number, number, number];
    for (const plane of PLANES) {
      const g = GEOMETRY[plane];
      const view = this.views.get(plane)!;
      view.canvas.width = v.dims[g.across];
      view.canvas.height = v.dims[g.down];
      view.slider.max = String(v.dims[g.fixed] - 1);
      const wmm = v.dims[g.across] * v.spacing[g.across];
      const hmm = v.dims[g.down] * v.spacing[g.down];
      const scale = this.maxViewPx / Math.max(wmm, hmm);
      view.canvas.style.width = `${Math.round(wmm * scale)}px`;
      view.canvas.style.height = `${Math.round(hmm * scale)}px`;
    }
    this.render();
  }

  /** Internal labels (0–3) on the case's grid, or null for none. */
  setLabels(labels: Uint8Array | null): void {
    this.labels = labels;
    this.render();
  }

  /** Moves every plane to the slice through a voxel (e.g. the tumour's centre). */
  focus(voxel: readonly [number, number, number]): void {
    this.cursor = [voxel[0], voxel[1], voxel[2]];
    this.render();
  }

  setModality(i: number): void {
    this.modality = i;
    this.render();
  }

  setOpacity(a: number): void {
    this.opacity = Math.min(1, Math.max(0, a));
    this.render();
  }

  canvas(plane: Plane): HTMLCanvasElement {
    return this.views.get(plane)!.canvas;
  }

  /** Drawing is synchronous: every call is on the canvases when it returns. */
  idle(): Promise<void> {
    return Promise.resolve();
  }

  destroy(): void {
    this.element.remove();
  }

  private pick(plane: Plane, ev: MouseEvent): void {
    const v = this.volume;
    if (!v) return;
    const g = GEOMETRY[plane];
    const canvas = this.views.get(plane)!.canvas;
    const r = canvas.getBoundingClientRect();
    const col = Math.floor(((ev.clientX - r.left) / r.width) * canvas.width);
    const row = Math.floor(((ev.clientY - r.top) / r.height) * canvas.height);
    this.cursor[g.across] = Math.min(v.dims[g.across] - 1, Math.max(0, col));
    this.cursor[g.down] = Math.min(v.dims[g.down] - 1, Math.max(0, g.flipDown ? canvas.height - 1 - row : row));
    this.render();
  }

  render(): void {
    const v = this.volume;
    if (!v) return;
    const img = v.images[this.modality]!;
    const [lo, hi] = this.windows[this.modality]!;
    const span = hi > lo ? hi - lo : 1;
    const [X, Y] = v.dims;
    const strides = [1, X, X * Y];
    for (const plane of PLANES) {
      const g = GEOMETRY[plane];
      const view = this.views.get(plane)!;
      const w = view.canvas.width;
      const ht = view.canvas.height;
      const ctx = view.canvas.getContext('2d')!;
      const out = ctx.createImageData(w, ht);
      const px = out.data;
      const base = this.cursor[g.fixed] * strides[g.fixed]!;
      const sa = strides[g.across]!;
      const sd = strides[g.down]!;
      for (let row = 0; row < ht; row++) {
        const d = g.flipDown ? ht - 1 - row : row;
        for (let col = 0; col < w; col++) {
          const i = base + col * sa + d * sd;
          const grey = Math.max(0, Math.min(255, ((img[i]! - lo) / span) * 255));
          let r = grey;
          let gr = grey;
          let b = grey;
          const label = this.labels ? this.labels[i]! : 0;
          const colour = label ? LABEL_COLOURS[label] : undefined;
          if (colour) {
            const a = this.opacity;
            r = (1 - a) * grey + a * colour[0];
            gr = (1 - a) * grey + a * colour[1];
            b = (1 - a) * grey + a * colour[2];
          }
          const o = 4 * (row * w + col);
          px[o] = r;
          px[o + 1] = gr;
          px[o + 2] = b;
          px[o + 3] = 255;
        }
      }
      ctx.putImageData(out, 0, 0);
      view.slider.value = String(this.cursor[g.fixed]);
      view.caption.textContent = `${'xyz'[g.fixed]} = ${this.cursor[g.fixed]} / ${v.dims[g.fixed] - 1}`;
    }
  }
}

/** 1st–99th percentile of the nonzero voxels (a sample of them: this runs on every case load). */
export function displayWindow(img: Float32Array): [number, number] {
  const step = Math.max(1, Math.floor(img.length / 200_000));
  const vals: number[] = [];
  for (let i = 0; i < img.length; i += step) if (img[i] !== 0) vals.push(img[i]!);
  if (vals.length === 0) return [0, 1];
  const [lo, hi] = percentiles(Float32Array.from(vals), [1, 99]) as [number, number];
  return [Math.min(lo, 0), hi];
}

/** The centre of mass of the labelled voxels, rounded (null when there are none). */
export function labelCentre(labels: Uint8Array, dims: Dims3): [number, number, number] | null {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sz = 0;
  const [X, Y] = dims;
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    n++;
    sx += i % X;
    sy += Math.floor(i / X) % Y;
    sz += Math.floor(i / (X * Y));
  }
  return n ? [Math.round(sx / n), Math.round(sy / n), Math.round(sz / n)] : null;
}
