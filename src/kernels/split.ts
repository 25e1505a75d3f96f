import { empty, type Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { InternalError, LimitError } from '../tensor/errors.js';
import { fmt, numel } from '../tensor/shape.js';
import { bindingElems, copyElements } from '../tensor/chunks.js';

/**
 * Splitting an op whose tensors exceed one storage binding into sub-ops on blocks of their
 * leading axes (samples, channels), each binding fitting. A block of a contiguous run of
 * elements is a view where it starts at an aligned offset and a copy otherwise (an encoder
 * copy binds nothing, so copies have no size limit); results are written in place or copied
 * into the whole output.
 */

/** Elements [start, start + numel(shape)) of t as a tensor of `shape`: a view, or a copy when unaligned. */
export function block(t: Tensor, start: number, shape: readonly number[]): Tensor {
  const v = t.viewRange(start, shape);
  if (v) return v;
  const c = empty(shape, t.device, 'block', t.dtype);
  copyElements(t, start, c, 0, c.size);
  return c;
}

/** Copies all of src into dst from element `start` on. */
export function place(src: Tensor, dst: Tensor, start: number): void {
  copyElements(src, 0, dst, start, src.size);
}

/**
 * Runs `fill(part)` for the tensor `part` standing for elements [start, start + numel(shape))
 * of dst: a view of dst when aligned, else a temporary copied into dst afterwards.
 */
export function writeRange(dst: Tensor, start: number, shape: readonly number[], fill: (part: Tensor) => void): void {
  const v = dst.viewRange(start, shape);
  if (v) {
    fill(v);
    v.dispose();
    return;
  }
  const tmp = empty(shape, dst.device, 'block', dst.dtype);
  fill(tmp);
  place(tmp, dst, start);
  tmp.dispose();
}

/** Whether every tensor fits one binding. */
export function allFit(...ts: Tensor[]): boolean {
  return ts.every((t) => t.size <= bindingElems(t.device, t.itemSize));
}

/**
 * Runs `leaf(yPart, operandParts)` on blocks of y's leading axes such that every binding
 * fits. Operands have y's rank and broadcast to it (size 1 or y's size on each axis); an
 * operand of size 1 on a split axis is passed whole. `leaf` writes all of yPart. Blocks keep
 * y's rank: axes before the one being split have size 1, so every block is a contiguous run.
 */
export function splitLeading(op: string, y: Tensor, operands: readonly Tensor[], leaf: (yPart: Tensor, ops: Tensor[]) => void): void {
  const m = bindingElems(y.device);
  for (const o of operands) {
    if (o.rank !== y.rank) throw new InternalError(`${op}: operand ${fmt(o.shape)} and output ${fmt(y.shape)} differ in rank`);
  }
  const withAxis = (shape: readonly number[], k: number, v: number): number[] => shape.map((d, i) => (i === k ? v : d));
  const rec = (yShape: readonly number[], yStart: number, ops: readonly Tensor[], k: number): void => {
    if (numel(yShape) <= m && ops.every((o) => o.size <= m)) {
      writeRange(y, yStart, yShape, (part) => leaf(part, [...ops]));
      return;
    }
    if (k >= yShape.length) {
      throw new LimitError(
        `${op}: a block of shape ${fmt(yShape)} of ${fmt(y.shape)} (or of its operands ${ops.map((o) => fmt(o.shape)).join(', ')}) does not fit maxStorageBufferBindingSize (${y.device.limits.maxStorageBufferBindingSize} bytes)`,
      );
    }
    const rows = yShape[k]!;
    const rowY = numel(yShape.slice(k + 1));
    const split = (o: Tensor): boolean => o.shape[k] !== 1;
    const rowOf = (o: Tensor): number => numel(o.shape.slice(k + 1));
    // Operands split along this axis take as many rows as y; broadcast ones are passed whole.
    const wholeFit = ops.every((o) => split(o) || o.size <= m);
    const per = wholeFit ? Math.floor(m / Math.max(rowY, ...ops.filter(split).map(rowOf))) : 0;
    const step = Math.max(1, per);
    tidy(() => {
      for (let r0 = 0; r0 < rows; r0 += step) {
        const r1 = Math.min(rows, r0 + step);
        const parts = ops.map((o) => (split(o) ? block(o, r0 * rowOf(o), withAxis(o.shape, k, r1 - r0)) : o));
        rec(withAxis(yShape, k, r1 - r0), yStart + r0 * rowY, parts, k + 1);
      }
    });
  };
  rec(y.shape, 0, operands, 0);
}

/** A block of a [N, C, ...spatial] tensor: whole samples [n0, n1), or channels [c0, c1) of one sample. */
export interface PlaneBlock {
  n0: number;
  n1: number;
  c0: number;
  c1: number;
  /** First element and first plane (n·C + c) of the block. */
  start: number;
  plane0: number;
  planes: number;
  /** [n1 − n0, c1 − c0, ...spatial]. */
  shape: number[];
}

/**
 * Blocks of whole (n, c) planes of [N, C, ...spatial], each at most `maxElems` elements (and
 * contiguous): whole samples where a sample fits, else channel blocks of one sample.
 * A plane larger than `maxElems` is a LimitError naming the op and the shape.
 */
export function planeBlocks(op: string, shape: readonly number[], maxElems: number, device: { limits: { maxStorageBufferBindingSize: number } }): PlaneBlock[] {
  const [n, c] = shape as [number, number];
  const spatial = shape.slice(2);
  const plane = numel(spatial);
  if (plane > maxElems) {
    throw new LimitError(
      `${op}: one channel plane of ${fmt(shape)} (${plane * 4} bytes) exceeds maxStorageBufferBindingSize (${device.limits.maxStorageBufferBindingSize} bytes); splitting a plane into voxel slabs is not implemented`,
    );
  }
  const out: PlaneBlock[] = [];
  const add = (n0: number, n1: number, c0: number, c1: number): void => {
    const plane0 = n0 * c + c0;
    const planes = (n1 - n0) * (c1 - c0);
    out.push({ n0, n1, c0, c1, start: plane0 * plane, plane0, planes, shape: [n1 - n0, c1 - c0, ...spatial] });
  };
  const perSample = Math.floor(maxElems / Math.max(1, c * plane));
  if (perSample >= 1) {
    for (let n0 = 0; n0 < n; n0 += perSample) add(n0, Math.min(n, n0 + perSample), 0, c);
  } else {
    const per = Math.floor(maxElems / Math.max(1, plane));
    for (let s = 0; s < n; s++) for (let c0 = 0; c0 < c; c0 += per) add(s, s + 1, c0, Math.min(c, c0 + per));
  }
  return out;
}
