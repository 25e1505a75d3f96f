/**
 * What the demo's viewer shows, read from the page: NiiVue's own volumes (names, dims, the
 * overlay's voxel counts per label) and the colours it drew; the slice canvases' colours.
 */
import type { Page } from 'playwright-core';

export interface NiivueVolume {
  name: string;
  dims: number[];
  /** Voxels per value, for the label overlay only (volumes after the first). */
  counts: Record<string, number> | null;
}

export interface NiivueState {
  viewer: string | null;
  volumes: NiivueVolume[];
  /** Where NiiVue's crosshair is, in voxels of the image. */
  crosshair: number[];
}

/** Waits until the viewer has drawn what was last asked of it, then reads NiiVue's volumes. */
export async function niivueState(page: Page): Promise<NiivueState> {
  return page.evaluate(async () => {
    const seg = (window as unknown as { hnfnetSegmenter: { niivue: unknown; viewerIdle(): Promise<void> } }).hnfnetSegmenter;
    await seg.viewerIdle();
    type Nv = {
      volumes: { name: string; hdr: { dims: number[] }; img: ArrayLike<number> }[];
      scene: { crosshairPos: number[] };
      frac2vox(f: number[]): number[];
    };
    const nv = seg.niivue as Nv | null;
    const viewer = document.querySelector('.hnf-viewer')?.getAttribute('data-viewer') ?? null;
    if (!nv) return { viewer, volumes: [], crosshair: [] };
    const volumes = nv.volumes.map((v, i) => {
      let counts: Record<string, number> | null = null;
      if (i > 0) {
        counts = {};
        for (let j = 0; j < v.img.length; j++) counts[v.img[j]!] = (counts[v.img[j]!] ?? 0) + 1;
      }
      return { name: v.name, dims: Array.from(v.hdr.dims).slice(1, 1 + v.hdr.dims[0]!), counts };
    });
    return { viewer, volumes, crosshair: Array.from(nv.frac2vox(nv.scene.crosshairPos)) };
  });
}

/** Pixels of each label colour (over grey, at any opacity) in a canvas's picture. */
export interface ColourCounts {
  /** NiiVue's canvas, or the plane of a slice canvas. */
  canvas: string;
  red: number;
  green: number;
  yellow: number;
  /** Pixels that are not black. */
  lit: number;
  pixels: number;
}

/**
 * The viewer's pictures classified by colour: red (NCR/NET), green (ED), yellow (ET) over grey.
 * NiiVue's is copied right after it draws (its WebGL canvas keeps no drawing buffer between
 * frames); its crosshair is blue and its letters white, so neither counts as a label.
 */
export async function viewerColours(page: Page, viewer: 'niivue' | 'slices'): Promise<ColourCounts[]> {
  return page.evaluate(async (viewer) => {
    const seg = (window as unknown as { hnfnetSegmenter: { niivue: unknown; viewerIdle(): Promise<void> } }).hnfnetSegmenter;
    await seg.viewerIdle();
    const pictures: { canvas: string; data: Uint8ClampedArray }[] = [];
    if (viewer === 'niivue') {
      const nv = seg.niivue as { canvas: HTMLCanvasElement; drawScene(): void };
      const copy = document.createElement('canvas');
      copy.width = nv.canvas.width;
      copy.height = nv.canvas.height;
      const ctx = copy.getContext('2d')!;
      nv.drawScene();
      ctx.drawImage(nv.canvas, 0, 0);
      pictures.push({ canvas: 'niivue', data: ctx.getImageData(0, 0, copy.width, copy.height).data });
    } else {
      for (const c of Array.from(document.querySelectorAll<HTMLCanvasElement>('canvas.hnf-slice'))) pictures.push({ canvas: c.dataset.plane ?? '', data: c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data });
    }
    return pictures.map(({ canvas, data: d }) => {
      const out = { canvas, red: 0, green: 0, yellow: 0, lit: 0, pixels: d.length / 4 };
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b] = [d[i]!, d[i + 1]!, d[i + 2]!];
        if (r + g + b > 0) out.lit++;
        if (r - Math.max(g, b) > 40) out.red++;
        else if (g - Math.max(r, b) > 40) out.green++;
        else if (Math.min(r, g) - b > 40 && Math.abs(r - g) < 60) out.yellow++;
      }
      return out;
    });
  }, viewer);
}

/** Voxels per internal label (0–3), as strings like NiiVue's counts. */
export function labelCounts(labels: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < labels.length; i++) out[labels[i]!] = (out[labels[i]!] ?? 0) + 1;
  return out;
}
