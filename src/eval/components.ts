import { boundingBox, checkShape } from './masks.js';
import type { Shape3 } from './masks.js';
import { ArgumentError } from '../tensor/errors.js';

/**
 * Connected components and binary dilation of masks in [D, H, W] order, with the
 * neighbourhoods BraTS 2023's lesion-wise scoring uses (cc3d's 26-connectivity, scipy's
 * 18-neighbourhood `generate_binary_structure(3, 2)`). Voxels beyond the volume border are
 * background, as scipy's default border value 0 makes them.
 */

export interface Components {
  /** 0 for background, 1..count for the components, numbered in raster order of their first voxel. */
  labels: Int32Array;
  count: number;
  /** Voxels per component: sizes[k] for label k (sizes[0] is 0). */
  sizes: Int32Array;
}

export type Connectivity = 6 | 18 | 26;

/** A neighbourhood's offsets: per axis, and as index steps in a volume of row W and plane H·W. */
interface Neighbourhood {
  dd: Int32Array;
  dh: Int32Array;
  dw: Int32Array;
  step: Int32Array;
}

/** 6 faces; 18 adds the edges; 26 adds the corners. */
function neighbourhood(connectivity: Connectivity, shape: Shape3): Neighbourhood {
  const [, H, W] = shape;
  const dd: number[] = [], dh: number[] = [], dw: number[] = [], step: number[] = [];
  for (let a = -1; a <= 1; a++)
    for (let b = -1; b <= 1; b++)
      for (let c = -1; c <= 1; c++) {
        const n = Math.abs(a) + Math.abs(b) + Math.abs(c);
        if (n === 0 || (connectivity === 6 && n > 1) || (connectivity === 18 && n > 2)) continue;
        dd.push(a);
        dh.push(b);
        dw.push(c);
        step.push((a * H + b) * W + c);
      }
  return { dd: Int32Array.from(dd), dh: Int32Array.from(dh), dw: Int32Array.from(dw), step: Int32Array.from(step) };
}

/** The connected components of the nonzero voxels of `mask`. */
export function connectedComponents(mask: Uint8Array, shape: Shape3, connectivity: Connectivity = 26): Components {
  checkShape(shape, mask.length, 'connected components');
  const [D, H, W] = shape;
  const plane = H * W;
  const nb = neighbourhood(connectivity, shape);
  const k = nb.step.length;
  const labels = new Int32Array(mask.length);
  const sizes: number[] = [0];
  // Every voxel is pushed once at most, so the stack never outgrows the volume.
  let stack = new Int32Array(1024);
  let count = 0;
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || labels[start] !== 0) continue;
    const label = ++count;
    labels[start] = label;
    let top = 0;
    stack[top++] = start;
    let size = 0;
    while (top > 0) {
      const i = stack[--top]!;
      size++;
      const d = Math.floor(i / plane);
      const r = i - d * plane;
      const h = Math.floor(r / W);
      const w = r - h * W;
      // Inside the volume's shell no neighbour can fall outside it.
      const inner = d > 0 && d < D - 1 && h > 0 && h < H - 1 && w > 0 && w < W - 1;
      for (let n = 0; n < k; n++) {
        if (!inner) {
          const nd = d + nb.dd[n]!, nh = h + nb.dh[n]!, nw = w + nb.dw[n]!;
          if (nd < 0 || nd >= D || nh < 0 || nh >= H || nw < 0 || nw >= W) continue;
        }
        const j = i + nb.step[n]!;
        if (mask[j] === 0 || labels[j] !== 0) continue;
        labels[j] = label;
        if (top === stack.length) {
          const grown = new Int32Array(Math.min(stack.length * 2, mask.length));
          grown.set(stack);
          stack = grown;
        }
        stack[top++] = j;
      }
    }
    sizes.push(size);
  }
  return { labels, count, sizes: Int32Array.from(sizes) };
}

/**
 * The voxel indices of every component, grouped: those of label k are
 * `indices.subarray(start[k], start[k + 1])`, in increasing order.
 */
export function voxelsByLabel(c: Components): { start: Int32Array; indices: Int32Array } {
  const start = new Int32Array(c.count + 2);
  for (let k = 1; k <= c.count; k++) start[k + 1] = start[k]! + c.sizes[k]!;
  const fill = start.slice();
  const indices = new Int32Array(start[c.count + 1]!);
  for (let i = 0; i < c.labels.length; i++) {
    const k = c.labels[i]!;
    if (k !== 0) indices[fill[k]!++] = i;
  }
  return { start, indices };
}

/**
 * `mask` dilated `iterations` times with the 18-neighbourhood (or another), as scipy's
 * `binary_dilation(mask, generate_binary_structure(3, 2), iterations)`. Each pass only visits
 * the bounding box of what is set so far, grown by one.
 */
export function dilate(mask: Uint8Array, shape: Shape3, iterations: number, connectivity: Connectivity = 18): Uint8Array {
  checkShape(shape, mask.length, 'dilation');
  if (!Number.isInteger(iterations) || iterations < 0) throw new ArgumentError(`dilation: iterations must be a non-negative integer, got ${iterations}`);
  const [D, H, W] = shape;
  const plane = H * W;
  const nb = neighbourhood(connectivity, shape);
  const k = nb.step.length;
  // A loop: typed-array from/map with a callback are an order of magnitude slower on big volumes.
  let cur = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) cur[i] = 1;
  const box = boundingBox([cur], shape);
  if (box === null) return cur;
  // The half-open range [lo, hi) per axis, grown by one after each pass.
  const lo = [...box.start];
  const hi = [0, 1, 2].map((a) => box.start[a]! + box.size[a]!);
  for (let it = 0; it < iterations; it++) {
    const next = cur.slice();
    for (let d = lo[0]!; d < hi[0]!; d++)
      for (let h = lo[1]!; h < hi[1]!; h++) {
        const row = d * plane + h * W;
        const innerRow = d > 0 && d < D - 1 && h > 0 && h < H - 1;
        for (let w = lo[2]!; w < hi[2]!; w++) {
          const i = row + w;
          if (cur[i] === 0) continue;
          const inner = innerRow && w > 0 && w < W - 1;
          for (let n = 0; n < k; n++) {
            if (!inner) {
              const nd = d + nb.dd[n]!, nh = h + nb.dh[n]!, nw = w + nb.dw[n]!;
              if (nd < 0 || nd >= D || nh < 0 || nh >= H || nw < 0 || nw >= W) continue;
            }
            next[i + nb.step[n]!] = 1;
          }
        }
      }
    cur = next;
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.max(0, lo[a]! - 1);
      hi[a] = Math.min(shape[a]!, hi[a]! + 1);
    }
  }
  return cur;
}
