import { accumulate, attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { bindingElems } from '../tensor/chunks.js';
import { block, place } from './split.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt, normAxes, numel, sameShape, type Shape } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg } from './util.js';
import { broadcastTo } from './broadcast.js';
import { scale } from './unary.js';

/**
 * Sum of x viewed as [outer, R, inner] over R, in passes: each invocation adds a strided
 * subset of R serially (adjacent invocations read adjacent addresses), giving partial sums
 * [outer, chunks, inner]; passes repeat until one chunk is left. No atomics, no barriers.
 */
const sumKernel: KernelDef = {
  name: 'sum',
  inputs: ['x'],
  outputs: ['y'],
  uniforms: [
    { name: 'outer', type: 'u32' },
    { name: 'r', type: 'u32' },
    { name: 'inner', type: 'u32' },
    { name: 'chunks', type: 'u32' },
  ],
  workgroupSize: 256,
  body: `  let total = u.outer * u.chunks * u.inner;
  if (idx >= total) { return; }
  let i = idx % u.inner;
  let c = (idx / u.inner) % u.chunks;
  let o = idx / (u.inner * u.chunks);
  let base = o * u.r * u.inner + i;
  var acc = 0.0;
  for (var r = c; r < u.r; r = r + u.chunks) {
    acc = acc + x[base + r * u.inner];
  }
  y[idx] = acc;`,
};

function chunksFor(outer: number, r: number, inner: number): number {
  const outputs = outer * inner;
  if (outputs >= 8192 || r <= 64) return 1;
  // Enough invocations to fill the device, each still adding a few dozen values.
  return Math.max(1, Math.min(Math.ceil(r / 32), Math.ceil(16384 / outputs)));
}

/** Sum over the middle axis of [outer, r, inner] (no autograd), split where x exceeds one binding. */
function sumMiddle(x: Tensor, outer: number, r: number, inner: number): Tensor {
  const m = bindingElems(x.device);
  if (x.size <= m) return sumMiddleBound(x, outer, r, inner);
  const y = empty([outer, 1, inner], x.device, 'sum');
  tidy(() => {
    if (r * inner <= m) {
      // Blocks of whole outer rows.
      const per = Math.floor(m / (r * inner));
      for (let o0 = 0; o0 < outer; o0 += per) {
        const o1 = Math.min(outer, o0 + per);
        place(sumMiddleBound(block(x, o0 * r * inner, [o1 - o0, r, inner]), o1 - o0, r, inner), y, o0 * inner);
      }
      return;
    }
    const rb = Math.floor(m / inner);
    for (let o = 0; o < outer; o++) {
      if (rb >= 2) {
        // Partial sums over blocks of rb rows, stacked and summed again.
        const nb = Math.ceil(r / rb);
        const parts = empty([1, nb, inner], x.device, 'sum');
        for (let j = 0; j < nb; j++) {
          const r0 = j * rb;
          const r1 = Math.min(r, r0 + rb);
          place(sumMiddleBound(block(x, (o * r + r0) * inner, [1, r1 - r0, inner]), 1, r1 - r0, inner), parts, j * inner);
        }
        place(sumMiddle(parts, 1, nb, inner), y, o * inner);
      } else {
        // A row alone fills a binding: add the rows one by one over element ranges.
        let acc = block(x, o * r * inner, [inner]);
        for (let k = 1; k < r; k++) acc = accumulate(acc, block(x, (o * r + k) * inner, [inner]));
        place(acc, y, o * inner);
      }
    }
  });
  return y;
}

/** sumMiddle of an x that fits one binding. */
function sumMiddleBound(x: Tensor, outer: number, r: number, inner: number): Tensor {
  let cur = x;
  let curR = r;
  for (;;) {
    const chunks = chunksFor(outer, curR, inner);
    const y = empty([outer, chunks, inner], x.device, 'sum');
    x.device.dispatch(sumKernel, {
      inputs: [arg(cur)],
      outputs: [arg(y)],
      uniforms: { outer, r: curR, inner, chunks },
      invocations: outer * chunks * inner,
      label: `[${outer}, ${curR}, ${inner}]`,
    });
    if (cur !== x) cur.dispose();
    cur = y;
    curR = chunks;
    if (chunks === 1) return cur;
  }
}

/** Sum over axes (all by default), without autograd; the result keeps reduced dims as 1. */
function sumKeep(x: Tensor, axes: number[]): Tensor {
  const shape = [...x.shape];
  let cur = x;
  // Runs of adjacent reduced axes, from the last: each run is one [outer, R, inner] reduction.
  let i = shape.length - 1;
  while (i >= 0) {
    if (!axes.includes(i) || shape[i] === 1) {
      i--;
      continue;
    }
    let j = i;
    while (j - 1 >= 0 && axes.includes(j - 1)) j--;
    const outer = numel(shape.slice(0, j));
    const r = numel(shape.slice(j, i + 1));
    const inner = numel(shape.slice(i + 1));
    const y = sumMiddle(cur, outer, r, inner);
    for (let k = j; k <= i; k++) shape[k] = 1;
    const view = y.view(shape);
    y.dispose();
    if (cur !== x) cur.dispose();
    cur = view;
    i = j - 1;
  }
  return cur === x ? x.view(x.shape) : cur;
}

export interface ReduceOptions {
  keepdim?: boolean;
}

/** Sum over the given axes (all when omitted), like torch.sum. */
export function sum(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normAxes(axes, x.rank, 'sum');
  const kept = sumKeep(x, ax);
  const outShape = opts.keepdim ? kept.shape : x.shape.filter((_, i) => !ax.includes(i));
  const y = kept.view(outShape);
  kept.dispose();
  const xShape = x.shape;
  const keptShape = xShape.map((d, i) => (ax.includes(i) ? 1 : d));
  attachGrad('sum', [x], [y], [], (g) => {
    const gk = g[0]!.view(keptShape);
    const out = broadcastTo(gk, xShape);
    gk.dispose();
    return [out];
  });
  return y;
}

/** Mean over the given axes (all when omitted), like torch.mean. */
export function mean(x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normAxes(axes, x.rank, 'mean');
  const count = ax.reduce((a, i) => a * x.shape[i]!, 1);
  const s = sum(x, ax, opts);
  const m = scale(s, count === 0 ? NaN : 1 / count);
  s.dispose();
  return m;
}

/** Sums a broadcast gradient back to `shape` (the reverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  if (off < 0) throw new ShapeError(`sumTo: ${fmt(g.shape)} has fewer dimensions than ${fmt(shape)}`);
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    const target = i < off ? 1 : shape[i - off]!;
    if (target === 1 && d !== 1) axes.push(i);
    else if (target !== d) throw new ShapeError(`sumTo: ${fmt(g.shape)} does not reduce to ${fmt(shape)}`);
  });
  for (let i = 0; i < off; i++) if (!axes.includes(i)) axes.push(i);
  const kept = sumKeep(g, axes.sort((a, b) => a - b));
  const y = kept.view(shape);
  kept.dispose();
  return y;
}
