import { attachGrad, empty, zeros, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt, normAxis, numel, splitAt } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg, sameDevice } from './util.js';
import { allFit } from './split.js';
import { copyElements } from '../tensor/chunks.js';
import { sameDtype } from './util.js';

/**
 * Copies rows [srcOff, srcOff + rows) of src viewed as [outer, srcR, inner] to rows
 * [dstOff, ...) of dst viewed as [outer, dstR, inner]. cat, slice and their gradients
 * are all this one copy.
 */
const copyRowsKernel: KernelDef = {
  name: 'copy_rows',
  inputs: ['src'],
  outputs: ['dst'],
  uniforms: [
    { name: 'outer', type: 'u32' },
    { name: 'rows', type: 'u32' },
    { name: 'inner', type: 'u32' },
    { name: 'src_r', type: 'u32' },
    { name: 'src_off', type: 'u32' },
    { name: 'dst_r', type: 'u32' },
    { name: 'dst_off', type: 'u32' },
  ],
  workgroupSize: 256,
  body: `  if (idx >= u.outer * u.rows * u.inner) { return; }
  let i = idx % u.inner;
  let r = (idx / u.inner) % u.rows;
  let o = idx / (u.inner * u.rows);
  dst[(o * u.dst_r + u.dst_off + r) * u.inner + i] = src[(o * u.src_r + u.src_off + r) * u.inner + i];`,
  halfStorage: true,
};

export function copyRows(src: Tensor, dst: Tensor, axis: number, rows: number, srcOff: number, dstOff: number): void {
  const [outer, srcR, inner] = splitAt(src.shape, axis);
  const dstR = dst.shape[axis]!;
  const n = outer * rows * inner;
  if (!allFit(src, dst)) {
    // Each outer index is one contiguous run in both: encoder copies, which bind nothing.
    for (let o = 0; o < outer; o++) copyElements(src, (o * srcR + srcOff) * inner, dst, (o * dstR + dstOff) * inner, rows * inner);
    return;
  }
  src.device.dispatch(copyRowsKernel, {
    inputs: [arg(src)],
    outputs: [arg(dst)],
    uniforms: { outer, rows, inner, src_r: srcR, src_off: srcOff, dst_r: dstR, dst_off: dstOff },
    invocations: n,
    label: `${fmt(src.shape)} -> ${fmt(dst.shape)} axis ${axis}`,
  });
}

/** Concatenation along an axis, like torch.cat. */
export function cat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('cat: needs at least one tensor');
  sameDevice('cat', ...xs);
  sameDtype('cat', ...xs);
  const first = xs[0]!;
  const ax = normAxis(axis, first.rank, 'cat');
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(`cat: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const total = xs.reduce((a, x) => a + x.shape[ax]!, 0);
  const outShape = first.shape.map((d, i) => (i === ax ? total : d));
  const y = empty(outShape, first.device, 'cat', first.dtype);
  let off = 0;
  const offsets: number[] = [];
  for (const x of xs) {
    offsets.push(off);
    if (x.size > 0) copyRows(x, y, ax, x.shape[ax]!, 0, off);
    off += x.shape[ax]!;
  }
  const shapes = xs.map((x) => x.shape);
  attachGrad('cat', xs, [y], [], (g) =>
    shapes.map((s, i) => {
      const gi = empty(s, g[0]!.device, 'cat_backward');
      if (numel(s) > 0) copyRows(g[0]!, gi, ax, s[ax]!, offsets[i]!, 0);
      return gi;
    }),
  );
  return y;
}

/** x[..., start:end, ...] along one axis (a copy), like torch.narrow / slicing. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normAxis(axis, x.rank, 'slice');
  const dim = x.shape[ax]!;
  const s = start < 0 ? start + dim : start;
  const e = end < 0 ? end + dim : Math.min(end, dim);
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || s > e || e > dim) {
    throw new ShapeError(`slice: range [${start}, ${end}) is outside axis ${ax} of ${fmt(x.shape)}`);
  }
  const outShape = x.shape.map((d, i) => (i === ax ? e - s : d));
  const y = empty(outShape, x.device, 'slice', x.dtype);
  if (y.size > 0) copyRows(x, y, ax, e - s, s, 0);
  const xShape = x.shape;
  attachGrad('slice', [x], [y], [], (g) => {
    const gx = zeros(xShape, { device: g[0]!.device });
    if (g[0]!.size > 0) copyRows(g[0]!, gx, ax, e - s, 0, s);
    return [gx];
  });
  return y;
}
