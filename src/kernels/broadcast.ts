import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef, UniformValues } from '../tensor/kernel.js';
import { MAX_RANK, broadcastShapes, broadcastStrides, fmt, sameShape, type Shape } from '../tensor/shape.js';
import { ShapeError } from '../tensor/errors.js';
import { arg, label, sameDevice, sameDtype } from './util.js';
import { dispatchElementwise } from '../tensor/chunks.js';
import { splitLeading } from './split.js';
import { sumTo } from './reduce.js';
import { neg } from './unary.js';

/** Highest rank the broadcasting kernels accept. */
export { MAX_RANK };

/** WGSL that turns the linear output index into offsets in each broadcast operand. */
function offsetsCode(operands: string[]): string {
  return `  var rem = idx;
${operands.map((o) => `  var off_${o} = 0u;`).join('\n')}
  for (var d = 0u; d < u.rank; d = d + 1u) {
    let k = u.rank - 1u - d;
    let c = rem % u_shape(k);
    rem = rem / u_shape(k);
${operands.map((o) => `    off_${o} = off_${o} + c * u_s${o}(k);`).join('\n')}
  }`;
}

export interface BinaryOpDef {
  wgsl: string;
  ref: (a: number, b: number) => number;
  /** Gradients as functions of the upstream gradient and the operands, composed from ops. */
  grad: (g: Tensor, a: Tensor, b: Tensor) => [Tensor, Tensor];
}

const binaryKernels = new Map<string, KernelDef>();

function binaryKernel(name: string, expr: string, same: boolean): KernelDef {
  const key = `${name}:${same}`;
  let k = binaryKernels.get(key);
  if (!k) {
    k = same
      ? {
          name,
          inputs: ['xa', 'xb'],
          outputs: ['y'],
          uniforms: [{ name: 'n', type: 'u32' }],
          workgroupSize: 256,
          body: `  if (idx >= u.n) { return; }\n  let a = xa[idx];\n  let b = xb[idx];\n  y[idx] = ${expr};`,
          halfStorage: true,
        }
      : {
          name,
          inputs: ['xa', 'xb'],
          outputs: ['y'],
          uniforms: [
            { name: 'n', type: 'u32' },
            { name: 'rank', type: 'u32' },
            { name: 'shape', type: 'u32', length: MAX_RANK },
            { name: 'sa', type: 'u32', length: MAX_RANK },
            { name: 'sb', type: 'u32', length: MAX_RANK },
          ],
          workgroupSize: 256,
          body: `  if (idx >= u.n) { return; }\n${offsetsCode(['a', 'b'])}\n  let a = xa[off_a];\n  let b = xb[off_b];\n  y[idx] = ${expr};`,
          halfStorage: true,
        };
    binaryKernels.set(key, k);
  }
  return k;
}

function checkRank(op: string, shape: Shape): void {
  if (shape.length > MAX_RANK) throw new ShapeError(`${op}: rank ${shape.length} ${fmt(shape)} is above the supported ${MAX_RANK}`);
}

/** Runs `expr` (WGSL in a, b) elementwise with NumPy broadcasting, without autograd. */
export function binaryRaw(name: string, expr: string, a: Tensor, b: Tensor): Tensor {
  sameDevice(name, a, b);
  sameDtype(name, a, b);
  const outShape = broadcastShapes(a.shape, b.shape, name);
  checkRank(name, outShape);
  const y = empty(outShape, a.device, name, a.dtype);
  if (sameShape(a.shape, b.shape)) {
    dispatchElementwise(binaryKernel(name, expr, true), [a, b], [y], {}, label(a, b));
    return y;
  }
  const ranked = (t: Tensor): Tensor => t.view([...Array<number>(outShape.length - t.rank).fill(1), ...t.shape]);
  const [ra, rb] = [ranked(a), ranked(b)];
  splitLeading(name, y, [ra, rb], (yp, [pa, pb]) => {
    const uniforms: UniformValues = { n: yp.size, rank: yp.rank, shape: yp.shape, sa: broadcastStrides(pa!.shape, yp.shape), sb: broadcastStrides(pb!.shape, yp.shape) };
    a.device.dispatch(binaryKernel(name, expr, false), { inputs: [arg(pa!), arg(pb!)], outputs: [arg(yp)], uniforms, invocations: yp.size, label: label(a, b) });
  });
  ra.dispose();
  rb.dispose();
  return y;
}

export const binaryOps = {
  add: { wgsl: 'a + b', ref: (a, b) => a + b, grad: (g) => [g, g] },
  sub: { wgsl: 'a - b', ref: (a, b) => a - b, grad: (g) => [g, neg(g)] },
  mul: { wgsl: 'a * b', ref: (a, b) => a * b, grad: (g, a, b) => [binaryRaw('mul', 'a * b', g, b), binaryRaw('mul', 'a * b', g, a)] },
  div: {
    wgsl: 'a / b',
    ref: (a, b) => a / b,
    grad: (g, a, b) => {
      const ga = binaryRaw('div', 'a / b', g, b);
      // -g·a/b² = -(g/b)·(a/b): two passes that reuse ga, and no overflow from b².
      const q = binaryRaw('div', 'a / b', a, b);
      const gb = binaryRaw('neg_mul', '-(a * b)', ga, q);
      q.dispose();
      return [ga, gb];
    },
  },
  maximum: {
    wgsl: 'max(a, b)',
    ref: Math.max,
    grad: (g, a, b) => [binaryRaw('mask_ge', 'select(0.0, 1.0, a >= b)', a, b), binaryRaw('mask_lt', 'select(0.0, 1.0, a < b)', a, b)].map((m) => {
      const r = binaryRaw('mul', 'a * b', g, m);
      m.dispose();
      return r;
    }) as [Tensor, Tensor],
  },
} satisfies Record<string, BinaryOpDef>;

export type BinaryOpName = keyof typeof binaryOps;

/** Elementwise op with broadcasting over size-1 dimensions, and its gradient. */
export function binary(name: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  const def: BinaryOpDef = binaryOps[name];
  const y = binaryRaw(name, def.wgsl, a, b);
  const needSaved = name !== 'add' && name !== 'sub';
  const aShape = a.shape;
  const bShape = b.shape;
  attachGrad(name, [a, b], [y], needSaved ? [a, b] : [], (g, saved) => {
    const [ga, gb] = def.grad(g[0]!, saved[0] ?? g[0]!, saved[1] ?? g[0]!);
    return [sumTo(ga, aShape), sumTo(gb, bShape)];
  });
  return y;
}

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
export const maximum = (a: Tensor, b: Tensor) => binary('maximum', a, b);

const broadcastKernel: KernelDef = {
  name: 'broadcast_to',
  inputs: ['xa'],
  outputs: ['y'],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'rank', type: 'u32' },
    { name: 'shape', type: 'u32', length: MAX_RANK },
    { name: 'sa', type: 'u32', length: MAX_RANK },
  ],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }\n${offsetsCode(['a'])}\n  y[idx] = xa[off_a];`,
  halfStorage: true,
};

/** Copies x into a larger shape along its size-1 (or missing leading) dimensions. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const out = broadcastShapes(x.shape, shape, 'broadcastTo');
  if (!sameShape(out, shape)) throw new ShapeError(`broadcastTo: ${fmt(x.shape)} cannot be broadcast to ${fmt(shape)}`);
  checkRank('broadcastTo', shape);
  const y = empty(shape, x.device, 'broadcast_to', x.dtype);
  const rx = x.view([...Array<number>(shape.length - x.rank).fill(1), ...x.shape]);
  splitLeading('broadcast_to', y, [rx], (yp, [px]) => {
    x.device.dispatch(broadcastKernel, {
      inputs: [arg(px!)],
      outputs: [arg(yp)],
      uniforms: { n: yp.size, rank: yp.rank, shape: yp.shape, sa: broadcastStrides(px!.shape, yp.shape) },
      invocations: yp.size,
      label: `${fmt(x.shape)} -> ${fmt(shape)}`,
    });
  });
  rx.dispose();
  const src = x.shape;
  attachGrad('broadcast_to', [x], [y], [], (g) => [sumTo(g[0]!, src)]);
  return y;
}
