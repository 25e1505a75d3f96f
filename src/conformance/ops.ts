import type { Tensor } from '../tensor/tensor.js';
import * as k from '../kernels/index.js';
import { attrNumber } from './case.js';

/**
 * How each conformance op maps onto hnfnet: named input tensors and attributes in, named
 * output tensors out. Inputs that the case differentiates arrive with requiresGrad set.
 * An op missing here is reported as skipped, by name.
 */
export type ConformanceOpFn = (
  inputs: Record<string, Tensor>,
  attrs: Record<string, unknown>,
) => Record<string, Tensor> | Promise<Record<string, Tensor>>;

function input(inputs: Record<string, Tensor>, name: string): Tensor {
  const t = inputs[name];
  if (!t) throw new Error(`missing input "${name}"`);
  return t;
}

/** Inputs x0, x1, … in numeric order. */
function numbered(inputs: Record<string, Tensor>, prefix: string): Tensor[] {
  return Object.keys(inputs)
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)))
    .map((n) => inputs[n]!);
}

export const conformanceOps: Record<string, ConformanceOpFn> = {
  add: (i) => ({ y: k.add(input(i, 'a'), input(i, 'b')) }),
  sub: (i) => ({ y: k.sub(input(i, 'a'), input(i, 'b')) }),
  mul: (i) => ({ y: k.mul(input(i, 'a'), input(i, 'b')) }),
  div: (i) => ({ y: k.div(input(i, 'a'), input(i, 'b')) }),
  relu: (i) => ({ y: k.relu(input(i, 'x')) }),
  leaky_relu: (i, a) => ({ y: k.leakyRelu(input(i, 'x'), attrNumber(a, 'negative_slope', 0.01)) }),
  sigmoid: (i) => ({ y: k.sigmoid(input(i, 'x')) }),
  tanh: (i) => ({ y: k.tanh(input(i, 'x')) }),
  exp: (i) => ({ y: k.exp(input(i, 'x')) }),
  log: (i) => ({ y: k.log(input(i, 'x')) }),
  sqrt: (i) => ({ y: k.sqrt(input(i, 'x')) }),
  neg: (i) => ({ y: k.neg(input(i, 'x')) }),
  softmax: (i, a) => ({ y: k.softmax(input(i, 'x'), attrNumber(a, 'dim', -1)) }),
  bmm: (i) => ({ y: k.bmm(input(i, 'a'), input(i, 'b')) }),
  matmul: (i) => ({ y: k.matmul(input(i, 'a'), input(i, 'b')) }),
  cat: (i, a) => ({ y: k.cat(numbered(i, 'x'), attrNumber(a, 'dim', 0)) }),
};
