/**
 * The case in NiiVue (@niivue/niivue, WebGL2): axial, coronal and sagittal slices and a 3D
 * render of one modality, with a label map over it in the BraTS colours, a crosshair that a
 * click or the arrow keys move, zoom and pan. The only file that imports NiiVue: the segmenter
 * loads it with a dynamic import, so its 0.8 MiB stay out of the segmenter's first file.
 *
 * NiiVue gets each volume as NIfTI bytes on the case's own grid (src/data/nifti-write.ts), so it
 * places them with the files' affine exactly as a desktop viewer would.
 */
import { Niivue, NVImage, SHOW_RENDER, SLICE_TYPE, type NiiVueLocation } from '@niivue/niivue';
import { encodeNifti } from '../src/data/nifti-write.js';
import type { CaseView, ViewOptions, ViewedCase, Voxel } from './case-view.js';
import { h } from './dom.js';
import { LABEL_COLOURS, LABEL_NAMES } from './viewer.js';

/** Internal labels 0–3 as a NiiVue label colour table: background transparent. */
function labelTable(): { R: number[]; G: number[]; B: number[]; A: number[]; I: number[]; labels: string[] } {
  const t = { R: [0], G: [0], B: [0], A: [0], I: [0], labels: [''] };
  for (const [k, name] of Object.entries(LABEL_NAMES)) {
    const c = LABEL_COLOURS[Number(k)]!;
    t.R.push(c[0]);
    t.G.push(c[1]);
    t.B.push(c[2]);
    t.A.push(255);
    t.I.push(Number(k));
    t.labels.push(name);
  }
  return t;
}

/** Why NiiVue cannot run in this browser, or null when WebGL2 is there. */
export function webgl2Missing(doc: Document): string | null {
  const gl = doc.createElement('canvas').getContext('webgl2');
  if (!gl) return 'this browser gives no WebGL2 context, which NiiVue needs';
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return null;
}

export class NiivueView implements CaseView {
  readonly kind = 'niivue';
  readonly element: HTMLElement;
  readonly niivue: Niivue;
  private viewed: ViewedCase | null = null;
  private modality = 0;
  private labels: Uint8Array | null = null;
  private opacity = 0.5;
  private base: NVImage | null = null;
  private overlay: NVImage | null = null;
  /** Updates run one after another: each waits for NiiVue to finish reading the last one's bytes. */
  private queue: Promise<void> = Promise.resolve();
  /** What the next queued update rebuilds; calls before it starts (a case and its labels) share it. */
  private pending: { base: boolean; overlay: boolean } | null = null;

  private constructor(
    element: HTMLElement,
    niivue: Niivue,
    private readonly onError: (e: unknown) => void,
  ) {
    this.element = element;
    this.niivue = niivue;
  }

  /** A NiiVue view in `holder`, `sizePx` per tile; `onLocation` hears every crosshair move. */
  static async create(holder: HTMLElement, opts: ViewOptions): Promise<NiivueView> {
    const { sizePx, onLocation, onError } = opts;
    const why = webgl2Missing(holder.ownerDocument);
    if (why) throw new Error(why);
    const canvas = h('canvas', { class: 'hnf-niivue-canvas' });
    const element = h('div', { class: 'hnf-niivue', style: `width: ${2 * sizePx}px; height: ${2 * sizePx}px` }, canvas);
    holder.append(element);
    const nv = new Niivue({
      backColor: [0, 0, 0, 1],
      // Blue, so that no label colour (red, green, yellow) is mistaken for it.
      crosshairColor: [0.3, 0.6, 1, 1],
      show3Dcrosshair: true,
      multiplanarShowRender: SHOW_RENDER.ALWAYS,
      isColorbar: false,
      showLegend: false,
      // Files come through the segmenter's own inputs, which also read the segmentation.
      dragAndDropEnabled: false,
      isResizeCanvas: true,
      logLevel: 'warn',
      loadingText: '',
    });
    try {
      await nv.attachToCanvas(canvas);
    } catch (e) {
      element.remove();
      throw e;
    }
    nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
    const view = new NiivueView(element, nv, onError);
    nv.onLocationChange = (loc: unknown) => {
      const vox = (loc as NiiVueLocation).vox;
      if (view.base && vox) onLocation([vox[0], vox[1], vox[2]]);
    };
    return view;
  }

  setCase(c: ViewedCase): void {
    this.viewed = c;
    this.labels = null;
    this.modality = Math.min(this.modality, c.images.length - 1);
    this.update({ base: true, overlay: true });
  }

  setModality(i: number): void {
    this.modality = i;
    this.update({ base: true });
  }

  setLabels(labels: Uint8Array | null): void {
    this.labels = labels;
    this.update({ overlay: true });
  }

  setOpacity(a: number): void {
    this.opacity = Math.min(1, Math.max(0, a));
    this.update({});
  }

  focus(voxel: Voxel): void {
    this.queue = this.queue.then(() => {
      if (!this.base) return;
      this.niivue.scene.crosshairPos = this.niivue.vox2frac([voxel[0], voxel[1], voxel[2]]);
      this.niivue.createOnLocationChange();
      this.niivue.drawScene();
    });
  }

  /** Resolves when every update asked for so far is on the screen. */
  idle(): Promise<void> {
    return this.queue;
  }

  destroy(): void {
    const gl = this.niivue.gl;
    this.niivue.cleanup();
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
    this.element.remove();
  }

  private update(what: { base?: boolean; overlay?: boolean }): void {
    if (this.pending) {
      this.pending.base ||= what.base ?? false;
      this.pending.overlay ||= what.overlay ?? false;
      return;
    }
    this.pending = { base: what.base ?? false, overlay: what.overlay ?? false };
    this.queue = this.queue
      .then(async () => {
        what = this.pending!;
        this.pending = null;
        const c = this.viewed;
        if (!c) return;
        if (what.base) this.base = await NVImage.loadFromUrl({ url: this.bytes(c, c.images[this.modality]!, 'float32'), name: `${c.id}_${c.modalities[this.modality]}.nii`, colormap: 'gray' });
        if (what.overlay) {
          this.overlay = this.labels ? await NVImage.loadFromUrl({ url: this.bytes(c, this.labels, 'uint8'), name: `${c.id}_labels.nii`, colormap: 'gray' }) : null;
          this.overlay?.setColormapLabel(labelTable());
        }
        if (this.viewed !== c) return;
        const nv = this.niivue;
        // NiiVue draws volumes[0] as the image and every later one over it. A new overlay
        // alone leaves the image in place: re-adding it would upload it and, for the 3D
        // render, recompute its gradients (seconds for a BraTS volume on a software GL).
        if (what.base) while (nv.volumes.length) nv.removeVolumeByIndex(0);
        else if (what.overlay) while (nv.volumes.length > 1) nv.removeVolumeByIndex(nv.volumes.length - 1);
        if (what.base && this.base) nv.addVolume(this.base);
        if ((what.base || what.overlay) && this.overlay) nv.addVolume(this.overlay);
        if (this.overlay) nv.setOpacity(1, this.opacity);
        nv.drawScene();
      })
      .catch(this.onError);
  }

  private bytes(c: ViewedCase, data: ArrayLike<number>, datatype: 'float32' | 'uint8'): Uint8Array {
    return encodeNifti(data, c.grid, { datatype, gzip: false, name: c.id });
  }
}
