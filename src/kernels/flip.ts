import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { MAX_RANK, fmt, normAxes, type Shape } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg } from './util.js';


/** Gathers y[i] = x[i with the flagged coordinates reversed]; one invocation per element. */
const flipKernel: KernelDef = {
  name: 'flip',
  halfStorage: true,
  inputs: ['x'],
  outputs: ['y'],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'rank', type: 'u32' },
    { name: 'shape', type: 'u32', length: MAX_RANK },
    { name: 'flip', type: 'u32', length: MAX_RANK },
  ],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }
  var rem = idx;
  var src = 0u;
  var stride = 1u;
  for (var d = 0u; d < u.rank; d = d + 1u) {
    let k = u.rank - 1u - d;
    let s = u_shape(k);
    let c = rem % s;
    rem = rem / s;
    src = src + select(c, s - 1u - c, u_flip(k) != 0u) * stride;
    stride = stride * s;
  }
  y[idx] = x[src];`,
};

/**
 * The fewest axes that describe the same flip: size-1 axes vanish and neighbours with the
 * same flag merge (reversing two adjacent axes together reverses their flattened index),
 * so a flip of W in [N, C, D, H, W] is a rank-2 problem and fewer index divisions run.
 */
function compact(shape: Shape, axes: readonly number[]): { shape: number[]; flip: number[] } {
  const outShape: number[] = [];
  const flags: number[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const f = axes.includes(i) ? 1 : 0;
    if (flags.length && flags[flags.length - 1] === f) outShape[outShape.length - 1]! *= d;
    else {
      outShape.push(d);
      flags.push(f);
    }
  });
  return { shape: outShape, flip: flags };
}

function flipRaw(x: Tensor, axes: readonly number[]): Tensor {
  const y = empty(x.shape, x.device, 'flip', x.dtype);
  if (x.size === 0) return y;
  const c = compact(x.shape, axes);
  if (c.shape.length > MAX_RANK) throw new ShapeError(`flip: ${fmt(x.shape)} flipped on axes ${fmt(axes)} needs more than ${MAX_RANK} index dimensions`);
  x.device.dispatch(flipKernel, {
    inputs: [arg(x)],
    outputs: [arg(y)],
    uniforms: { n: x.size, rank: c.shape.length, shape: c.shape, flip: c.flip },
    invocations: x.size,
    label: `${fmt(x.shape)} axes ${fmt(axes)}`,
  });
  return y;
}

/** Reverses x along the given axes (negative axes count from the end), like torch.flip; a copy. */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  const ax = normAxes(axes, x.rank, 'flip');
  const y = flipRaw(x, ax);
  attachGrad('flip', [x], [y], [], (g) => [flipRaw(g[0]!, ax)]);
  return y;
}
