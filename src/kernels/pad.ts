import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { MAX_RANK, fmt, type Shape } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg } from './util.js';


/**
 * y[o] = x[o − before] where that lies inside x, else `value`; per axis, before may be
 * negative (a crop). One kernel serves pad, crop and both their gradients, since the
 * gradient of a pad by (b, a) is a pad of g by (−b, −a) with zeros.
 */
const padKernel: KernelDef = {
  name: 'pad',
  halfStorage: true,
  inputs: ['x'],
  outputs: ['y'],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'rank', type: 'u32' },
    { name: 'value', type: 'f32' },
    { name: 'oshape', type: 'u32', length: MAX_RANK },
    { name: 'ishape', type: 'u32', length: MAX_RANK },
    { name: 'before', type: 'i32', length: MAX_RANK },
  ],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }
  var rem = idx;
  var src = 0u;
  var stride = 1u;
  var inside = true;
  for (var d = 0u; d < u.rank; d = d + 1u) {
    let k = u.rank - 1u - d;
    let c = rem % u_oshape(k);
    rem = rem / u_oshape(k);
    let sc = i32(c) - u_before(k);
    inside = inside && sc >= 0 && sc < i32(u_ishape(k));
    src = src + u32(max(sc, 0)) * stride;
    stride = stride * u_ishape(k);
  }
  var v = u.value;
  if (inside) { v = x[src]; }
  y[idx] = v;`,
};

/** Per-axis (before, after) amounts over every axis of a tensor. */
export type AxisPads = readonly (readonly [number, number])[];

/**
 * Axes merged where nothing is padded: a run of unpadded axes is one axis (its index is
 * contiguous in x and y alike), which keeps the common [N, C, ...] prefix to one division.
 */
function compact(inShape: Shape, pads: AxisPads): { ishape: number[]; oshape: number[]; before: number[] } {
  const ishape: number[] = [];
  const oshape: number[] = [];
  const before: number[] = [];
  let prevPlain = false;
  inShape.forEach((d, i) => {
    const [b, a] = pads[i]!;
    const plain = b === 0 && a === 0;
    if (plain && prevPlain) {
      ishape[ishape.length - 1]! *= d;
      oshape[oshape.length - 1]! *= d;
    } else {
      ishape.push(d);
      oshape.push(d + b + a);
      before.push(b);
    }
    prevPlain = plain;
  });
  return { ishape, oshape, before };
}

function padRaw(x: Tensor, pads: AxisPads, value: number, op: string): Tensor {
  const outShape = x.shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
  if (outShape.some((d) => d < 0)) {
    const amounts = pads.map(([b, a]) => `(${b}, ${a})`).join(' ');
    throw new ShapeError(`${op}: padding ${amounts} leaves input ${fmt(x.shape)} with a negative size ${fmt(outShape)}`);
  }
  const y = empty(outShape, x.device, op, x.dtype);
  if (y.size === 0) return y;
  const c = compact(x.shape, pads);
  if (c.ishape.length > MAX_RANK) throw new ShapeError(`${op}: input ${fmt(x.shape)} with this padding needs more than ${MAX_RANK} index dimensions`);
  x.device.dispatch(padKernel, {
    inputs: [arg(x)],
    outputs: [arg(y)],
    uniforms: { n: y.size, rank: c.ishape.length, value, oshape: c.oshape, ishape: c.ishape, before: c.before },
    invocations: y.size,
    label: `${fmt(x.shape)} -> ${fmt(outShape)}`,
  });
  return y;
}

const negate = (pads: AxisPads): AxisPads => pads.map(([b, a]) => [-b, -a] as const);

/**
 * Pads are either F.pad's flat list — (before, after) pairs starting from the LAST axis:
 * [wBefore, wAfter, hBefore, hAfter, dBefore, dAfter] — or one [before, after] pair per
 * trailing axis in natural order: [[dB, dA], [hB, hA], [wB, wA]]. Returns pairs for every axis.
 */
export function normPads(shape: Shape, pads: readonly number[] | AxisPads, op = 'pad'): AxisPads {
  const rank = shape.length;
  const out: [number, number][] = shape.map(() => [0, 0]);
  const nested = pads.length > 0 && typeof pads[0] !== 'number';
  const flat: number[] = [];
  if (nested) {
    const list = pads as AxisPads;
    if (list.length > rank) throw new ShapeError(`${op}: ${list.length} [before, after] pairs for input ${fmt(shape)} of rank ${rank}`);
    list.forEach((p, i) => {
      if (!Array.isArray(p) || p.length !== 2) throw new ShapeError(`${op}: each axis needs a [before, after] pair (input ${fmt(shape)})`);
      out[rank - list.length + i] = [p[0], p[1]];
      flat.push(p[0], p[1]);
    });
  } else {
    const list = pads as readonly number[];
    if (list.length % 2 !== 0 || list.length > 2 * rank) {
      throw new ShapeError(`${op}: pads ${fmt(list)} must be (before, after) pairs for at most ${rank} axes of input ${fmt(shape)}`);
    }
    for (let j = 0; j < list.length / 2; j++) out[rank - 1 - j] = [list[2 * j]!, list[2 * j + 1]!];
    flat.push(...list);
  }
  if (flat.some((v) => !Number.isInteger(v))) throw new ShapeError(`${op}: pads must be integers, got ${fmt(flat)} (input ${fmt(shape)})`);
  return out;
}

/**
 * Constant padding (default 0), like F.pad(x, pads, value=value); negative amounts crop.
 * See normPads for the two ways of writing `pads`.
 */
export function pad(x: Tensor, pads: readonly number[] | AxisPads, value = 0): Tensor {
  const perAxis = normPads(x.shape, pads);
  const y = padRaw(x, perAxis, value, 'pad');
  attachGrad('pad', [x], [y], [], (g) => [padRaw(g[0]!, negate(perAxis), 0, 'pad_backward')]);
  return y;
}

/**
 * The window x[..., s0:s0+n0, s1:s1+n1, ...] over the trailing axes (for [N, C, D, H, W]
 * and three values: the spatial box at `start` of extent `size`). The window must lie inside x.
 */
export function crop(x: Tensor, start: readonly number[], size: readonly number[]): Tensor {
  const rank = x.rank;
  const m = start.length;
  if (size.length !== m || m > rank) {
    throw new ShapeError(`crop: start ${fmt(start)} and size ${fmt(size)} must have the same length, at most the rank of input ${fmt(x.shape)}`);
  }
  const pads: [number, number][] = x.shape.map(() => [0, 0]);
  for (let j = 0; j < m; j++) {
    const ax = rank - m + j;
    const d = x.shape[ax]!;
    const s = start[j]!;
    const n = size[j]!;
    if (!Number.isInteger(s) || !Number.isInteger(n) || s < 0 || n < 0 || s + n > d) {
      throw new ShapeError(`crop: window start ${fmt(start)} size ${fmt(size)} does not fit inside input ${fmt(x.shape)}`);
    }
    pads[ax] = [-s, -(d - s - n)];
  }
  const y = padRaw(x, pads, 0, 'crop');
  attachGrad('crop', [x], [y], [], (g) => [padRaw(g[0]!, negate(pads), 0, 'crop_backward')]);
  return y;
}
