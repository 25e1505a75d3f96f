/**
 * The segmenter's viewer: NiiVue (web/niivue-view.ts, loaded on demand) where the browser has
 * WebGL2, else the three canvases of web/viewer.ts. Both take the same calls, so the segmenter
 * does not care which one it got.
 */
import type { NiftiGrid } from '../src/data/volume.js';
import { SliceViewer, type ViewerCase } from './viewer.js';

export type Voxel = readonly [number, number, number];
export type ViewerKind = 'niivue' | 'slices';

/** A case as the viewers take it: the slice viewer needs the images, NiiVue also the grid. */
export interface ViewedCase extends ViewerCase {
  id: string;
  grid: NiftiGrid;
}

export interface CaseView {
  readonly kind: ViewerKind;
  readonly element: HTMLElement;
  setCase(c: ViewedCase): void;
  /** Internal labels (0–3) on the case's grid, or null for none. */
  setLabels(labels: Uint8Array | null): void;
  setModality(i: number): void;
  setOpacity(a: number): void;
  /** Moves the crosshair (every plane) to a voxel. */
  focus(voxel: Voxel): void;
  /** Resolves once what was asked for is drawn. */
  idle(): Promise<void>;
  destroy(): void;
}

export interface ViewOptions {
  /** Edge of one view (one slice, or one of NiiVue's four tiles), CSS pixels. */
  sizePx: number;
  /** Called when the crosshair moves (NiiVue only: the slice viewer has its own captions). */
  onLocation: (v: Voxel) => void;
  /** A failure to show a volume. */
  onError: (e: unknown) => void;
}

/** The viewer of the kind asked for, in `holder`; NiiVue falls back to slices, saying why in `fellBack`. */
export async function openCaseView(holder: HTMLElement, kind: ViewerKind, opts: ViewOptions): Promise<{ view: CaseView; fellBack: string | null }> {
  let fellBack: string | null = null;
  if (kind === 'niivue') {
    try {
      const { NiivueView } = await import('./niivue-view.js');
      return { view: await NiivueView.create(holder, opts), fellBack };
    } catch (e) {
      fellBack = `NiiVue could not start (${e instanceof Error ? e.message : String(e)}); showing plain slices instead.`;
    }
  }
  const slices = new SliceViewer(opts.sizePx);
  holder.append(slices.element);
  return { view: slices, fellBack };
}
