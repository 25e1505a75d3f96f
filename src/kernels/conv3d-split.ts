import { accumulate, empty, noGrad, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import { tidy } from '../tensor/scope.js';
import { LimitError } from '../tensor/errors.js';
import { bindingElems } from '../tensor/chunks.js';
import { convGeometryOf, describe, type ConvGeometry } from './conv3d-geometry.js';
import { tiledFits, type ConvTiles } from './conv3d-tiled.js';
import { block, place } from './split.js';
import { copyRows, slice } from './concat.js';

/**
 * conv3d on tensors beyond one storage binding, as convolutions of blocks: samples, input
 * channels and output channels. Forward and dgrad sum over input (output) channel blocks,
 * wgrad over sample blocks; the sums are exact up to float rounding.
 */

/** The three passes of one implementation (conv3d.ts picks tiled or direct). */
export interface ConvPasses {
  forward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor;
  inputGrad(gy: Tensor, weight: Tensor, g: ConvGeometry): Tensor;
  weightGrad(x: Tensor, gy: Tensor, g: ConvGeometry): Tensor;
}

/** Samples, input channels and output channels per block. */
export interface ConvBlocks {
  nb: number;
  cib: number;
  cob: number;
}

const prod = (t: readonly number[]): number => t[0]! * t[1]! * t[2]!;

function subGeometry(g: ConvGeometry, b: ConvBlocks, bias: boolean): ConvGeometry {
  return convGeometryOf([b.nb, b.cib, ...g.in], [b.cob, b.cib, ...g.k], bias ? [b.cob] : null, { stride: g.stride, padding: g.pad }, g.dtype);
}

/** Whether one block's passes bind within the limits: the plain tensors always, the tiled passes' copies when tiled. */
function blockFits(g: ConvGeometry, device: Device, tiles: ConvTiles | null, plainOnly: boolean): boolean {
  const m = bindingElems(device);
  const plain = g.n * g.ci * prod(g.in) <= m && g.n * g.co * prod(g.out) <= m && g.co * g.ci * prod(g.k) <= m;
  if (!plain || !tiles || plainOnly) return plain;
  const f = tiledFits(g, tiles, device);
  return f.forward && f.inputGrad && f.weightGrad;
}

/**
 * The blocks conv3d runs in on this device, or null when the whole convolution fits. Blocks
 * are whole samples when a sample fits, else one sample and channel blocks, halved until the
 * tiled passes' padded copies fit too (the direct kernels take what still does not).
 */
export function convBlocks(g: ConvGeometry, device: Device, tiles: ConvTiles | null): ConvBlocks | null {
  if (g.n === 0 || g.ci === 0 || g.co === 0 || blockFits(g, device, tiles, false)) return null;
  const m = bindingElems(device);
  const inPlane = prod(g.in);
  const outPlane = prod(g.out);
  const taps = prod(g.k);
  const perSample = Math.max(g.ci * inPlane, g.co * outPlane, g.co * g.ci * taps);
  let b: ConvBlocks;
  if (perSample <= m) b = { nb: Math.min(g.n, Math.floor(m / perSample)), cib: g.ci, cob: g.co };
  else {
    b = { nb: 1, cib: Math.min(g.ci, Math.floor(m / inPlane)), cob: Math.min(g.co, Math.floor(m / outPlane)) };
    while (b.cib * b.cob * taps > m) {
      if (b.cib >= b.cob) b.cib = Math.ceil(b.cib / 2);
      else b.cob = Math.ceil(b.cob / 2);
    }
  }
  if (b.cib < 1 || b.cob < 1) {
    throw new LimitError(
      `conv3d ${describe(g)}: one channel plane (${4 * Math.max(inPlane, outPlane)} bytes) exceeds maxStorageBufferBindingSize (${device.limits.maxStorageBufferBindingSize} bytes); splitting a plane into voxel slabs is not implemented`,
    );
  }
  while (!blockFits(subGeometry(g, b, g.hasBias), device, tiles, false)) {
    if (b.nb > 1) b.nb = Math.ceil(b.nb / 2);
    else if (b.cib === 1 && b.cob === 1) break;
    else if (b.cib >= b.cob) b.cib = Math.ceil(b.cib / 2);
    else b.cob = Math.ceil(b.cob / 2);
  }
  return b;
}

/** Σ over the ranges of one() (each result freed as soon as it is added), under noGrad. */
function sumOver(rs: [number, number][], one: (r0: number, r1: number) => Tensor): Tensor {
  let acc: Tensor | null = null;
  for (const [r0, r1] of rs) {
    const part = noGrad(() => tidy(() => one(r0, r1)));
    if (!acc) acc = part;
    else {
      const next = accumulate(acc, part);
      acc.dispose();
      part.dispose();
      acc = next;
    }
  }
  return acc!;
}

/** Ranges [start, end) of size `step` covering [0, n). */
function ranges(n: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += step) out.push([s, Math.min(n, s + step)]);
  return out;
}

/** Elements of sample block [n0, n1) and channel block [c0, c1) of a [N, C, plane] tensor (contiguous: one sample, or all channels). */
function channelBlock(t: Tensor, n0: number, n1: number, c0: number, c1: number, spatial: readonly number[]): Tensor {
  const c = t.shape[1]!;
  return block(t, (n0 * c + c0) * prod(spatial), [n1 - n0, c1 - c0, ...spatial]);
}

function weightBlock(w: Tensor, co0: number, co1: number, ci0: number, ci1: number): Tensor {
  const rows = co0 === 0 && co1 === w.shape[0] ? w.view(w.shape) : slice(w, 0, co0, co1);
  if (ci0 === 0 && ci1 === w.shape[1]) return rows;
  const out = slice(rows, 1, ci0, ci1);
  rows.dispose();
  return out;
}

/** y = conv(x, w) + b by blocks: output blocks are sums over input-channel blocks. */
export function splitForward(p: ConvPasses, x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry, b: ConvBlocks): Tensor {
  const y = empty([g.n, g.co, ...g.out], x.device, 'conv3d', g.dtype);
  for (const [n0, n1] of ranges(g.n, b.nb)) {
    for (const [co0, co1] of ranges(g.co, b.cob)) {
      const acc = sumOver(ranges(g.ci, b.cib), (ci0, ci1) => {
        const withBias = !!bias && ci0 === 0;
        const sub = subGeometry(g, { nb: n1 - n0, cib: ci1 - ci0, cob: co1 - co0 }, withBias);
        return p.forward(channelBlock(x, n0, n1, ci0, ci1, g.in), weightBlock(w, co0, co1, ci0, ci1), withBias ? slice(bias, 0, co0, co1) : null, sub);
      });
      place(acc, y, (n0 * g.co + co0) * prod(g.out));
      acc.dispose();
    }
  }
  return y;
}

/** dx by blocks: input-channel blocks are sums over output-channel blocks. */
export function splitInputGrad(p: ConvPasses, gy: Tensor, w: Tensor, g: ConvGeometry, b: ConvBlocks): Tensor {
  const gx = empty([g.n, g.ci, ...g.in], gy.device, 'conv3d_dgrad');
  for (const [n0, n1] of ranges(g.n, b.nb)) {
    for (const [ci0, ci1] of ranges(g.ci, b.cib)) {
      const acc = sumOver(ranges(g.co, b.cob), (co0, co1) => {
        const sub = subGeometry(g, { nb: n1 - n0, cib: ci1 - ci0, cob: co1 - co0 }, false);
        return p.inputGrad(channelBlock(gy, n0, n1, co0, co1, g.out), weightBlock(w, co0, co1, ci0, ci1), sub);
      });
      place(acc, gx, (n0 * g.ci + ci0) * prod(g.in));
      acc.dispose();
    }
  }
  return gx;
}

/** dw by blocks: each (output, input channel) block is a sum over sample blocks. */
export function splitWeightGrad(p: ConvPasses, x: Tensor, gy: Tensor, g: ConvGeometry, b: ConvBlocks): Tensor {
  const gw = empty([g.co, g.ci, ...g.k], x.device, 'conv3d_wgrad');
  const taps = prod(g.k);
  for (const [co0, co1] of ranges(g.co, b.cob)) {
    // All input channels of this output block, then one contiguous copy into gw.
    const rows = empty([co1 - co0, g.ci, taps], x.device, 'conv3d_wgrad');
    for (const [ci0, ci1] of ranges(g.ci, b.cib)) {
      const acc = sumOver(ranges(g.n, b.nb), (n0, n1) => {
        const sub = subGeometry(g, { nb: n1 - n0, cib: ci1 - ci0, cob: co1 - co0 }, false);
        return p.weightGrad(channelBlock(x, n0, n1, ci0, ci1, g.in), channelBlock(gy, n0, n1, co0, co1, g.out), sub);
      });
      const v = acc.view([co1 - co0, ci1 - ci0, taps]);
      copyRows(v, rows, 1, ci1 - ci0, 0, ci0);
      v.dispose();
      acc.dispose();
    }
    place(rows, gw, co0 * g.ci * taps);
    rows.dispose();
  }
  return gw;
}
