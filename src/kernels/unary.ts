import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { label } from './util.js';
import { dispatchElementwise } from '../tensor/chunks.js';

/**
 * The single source of truth of every elementwise unary op: a WGSL forward expression in
 * `x` (and `p`, the op's parameter), the same function on the host (the reference the
 * tests use), and the gradient as a WGSL expression in `x`, `y` (the output), `g` and `p`.
 */
export interface UnaryOpDef {
  wgsl: string;
  ref: (x: number, p: number) => number;
  grad: string;
  /** Default of the parameter `p` (leaky_relu's slope). */
  param?: number;
}

export const unaryOps = {
  neg: { wgsl: '-x', ref: (x) => -x, grad: '-g' },
  exp: { wgsl: 'exp(x)', ref: Math.exp, grad: 'g * y' },
  log: { wgsl: 'log(x)', ref: Math.log, grad: 'g / x' },
  sqrt: { wgsl: 'sqrt(x)', ref: Math.sqrt, grad: 'g * 0.5 / y' },
  // Not max(x, 0.0): WGSL's max may return 0 for a NaN, where PyTorch's relu keeps the NaN.
  relu: { wgsl: 'select(x, 0.0, x < 0.0)', ref: (x) => (x < 0 ? 0 : x), grad: 'select(0.0, g, x > 0.0)' },
  leaky_relu: { wgsl: 'select(p * x, x, x > 0.0)', ref: (x, p) => (x > 0 ? x : p * x), grad: 'select(p * g, g, x > 0.0)', param: 0.01 },
  sigmoid: {
    // Written so that neither branch overflows: exp of a non-positive number only.
    wgsl: 'select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0)',
    ref: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
    grad: 'g * y * (1.0 - y)',
  },
  tanh: { wgsl: 'tanh(x)', ref: Math.tanh, grad: 'g * (1.0 - y * y)' },
  abs: { wgsl: 'abs(x)', ref: Math.abs, grad: 'g * sign(x)' },
  square: { wgsl: 'x * x', ref: (x) => x * x, grad: '2.0 * g * x' },
  scale: { wgsl: 'p * x', ref: (x, p) => p * x, grad: 'p * g', param: 1 },
  add_scalar: { wgsl: 'x + p', ref: (x, p) => x + p, grad: 'g', param: 0 },
} satisfies Record<string, UnaryOpDef>;

export type UnaryOpName = keyof typeof unaryOps;

const fwdKernels = new Map<string, KernelDef>();
const bwdKernels = new Map<string, KernelDef>();

function fwdKernel(name: UnaryOpName): KernelDef {
  let k = fwdKernels.get(name);
  if (!k) {
    const def: UnaryOpDef = unaryOps[name];
    k = {
      name,
      inputs: ['xs'],
      outputs: ['ys'],
      uniforms: [
        { name: 'n', type: 'u32' },
        { name: 'p', type: 'f32' },
      ],
      workgroupSize: 256,
      body: `  if (idx >= u.n) { return; }\n  let x = xs[idx];\n  let p = u.p;\n  ys[idx] = ${def.wgsl};`,
      halfStorage: true,
    };
    fwdKernels.set(name, k);
  }
  return k;
}

function bwdKernel(name: UnaryOpName): KernelDef {
  let k = bwdKernels.get(name);
  if (!k) {
    const def: UnaryOpDef = unaryOps[name];
    k = {
      name: `${name}_backward`,
      inputs: ['xs', 'ys', 'gs'],
      outputs: ['dx'],
      uniforms: [
        { name: 'n', type: 'u32' },
        { name: 'p', type: 'f32' },
      ],
      workgroupSize: 256,
      body: `  if (idx >= u.n) { return; }\n  let x = xs[idx];\n  let y = ys[idx];\n  let g = gs[idx];\n  let p = u.p;\n  dx[idx] = ${def.grad};`,
    };
    bwdKernels.set(name, k);
  }
  return k;
}

/** Applies a unary op from the table; `p` is its parameter where it has one. */
export function unary(name: UnaryOpName, x: Tensor, p?: number): Tensor {
  const def: UnaryOpDef = unaryOps[name];
  const param = p ?? def.param ?? 0;
  const y = empty(x.shape, x.device, name, x.dtype);
  dispatchElementwise(fwdKernel(name), [x], [y], { p: param }, label(x));
  attachGrad(name, [x], [y], [x, y], (g, [xs, ys]) => {
    const dx = empty(xs!.shape, xs!.device, `${name}_backward`);
    dispatchElementwise(bwdKernel(name), [xs!, ys!, g[0]!], [dx], { p: param }, label(xs!));
    return [dx];
  });
  return y;
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const relu = (x: Tensor) => unary('relu', x);
export const leakyRelu = (x: Tensor, negativeSlope = 0.01) => unary('leaky_relu', x, negativeSlope);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const abs = (x: Tensor) => unary('abs', x);
export const square = (x: Tensor) => unary('square', x);
/** x · s for a number s. */
export const scale = (x: Tensor, s: number) => unary('scale', x, s);
/** x + s for a number s. */
export const addScalar = (x: Tensor, s: number) => unary('add_scalar', x, s);
