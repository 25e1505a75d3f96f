import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { normAxis, splitAt } from '../tensor/shape.js';
import { arg, label } from './util.js';

const uniforms = [
  { name: 'outer', type: 'u32' },
  { name: 'r', type: 'u32' },
  { name: 'inner', type: 'u32' },
] as const;

/** One invocation per softmax row: max, sum of exponentials, normalise (three sweeps, no barriers). */
const softmaxKernel: KernelDef = {
  name: 'softmax',
  halfStorage: true,
  inputs: ['x'],
  outputs: ['y'],
  uniforms,
  workgroupSize: 64,
  body: `  if (idx >= u.outer * u.inner) { return; }
  let base = (idx / u.inner) * u.r * u.inner + idx % u.inner;
  var m = x[base];
  for (var r = 1u; r < u.r; r = r + 1u) { m = max(m, x[base + r * u.inner]); }
  var s = 0.0;
  for (var r = 0u; r < u.r; r = r + 1u) { s = s + exp(x[base + r * u.inner] - m); }
  let inv = 1.0 / s;
  for (var r = 0u; r < u.r; r = r + 1u) { y[base + r * u.inner] = exp(x[base + r * u.inner] - m) * inv; }`,
};

/** dx = y · (g − Σ g·y) along the softmax axis. */
const softmaxBackwardKernel: KernelDef = {
  name: 'softmax_backward',
  inputs: ['y', 'g'],
  outputs: ['dx'],
  uniforms,
  workgroupSize: 64,
  body: `  if (idx >= u.outer * u.inner) { return; }
  let base = (idx / u.inner) * u.r * u.inner + idx % u.inner;
  var s = 0.0;
  for (var r = 0u; r < u.r; r = r + 1u) { s = s + g[base + r * u.inner] * y[base + r * u.inner]; }
  for (var r = 0u; r < u.r; r = r + 1u) {
    let k = base + r * u.inner;
    dx[k] = y[k] * (g[k] - s);
  }`,
};

/** Softmax along one axis (numerically stable), like torch.softmax(x, dim). */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normAxis(axis, x.rank, 'softmax');
  const [outer, r, inner] = splitAt(x.shape, ax);
  const y = empty(x.shape, x.device, 'softmax', x.dtype);
  const u = { outer, r, inner };
  x.device.dispatch(softmaxKernel, { inputs: [arg(x)], outputs: [arg(y)], uniforms: u, invocations: outer * inner, label: `${label(x)} axis ${ax}` });
  attachGrad('softmax', [x], [y], [y], (g, [ys]) => {
    const dx = empty(ys!.shape, ys!.device, 'softmax_backward');
    ys!.device.dispatch(softmaxBackwardKernel, { inputs: [arg(ys!), arg(g[0]!)], outputs: [arg(dx)], uniforms: u, invocations: outer * inner, label: `${label(ys!)} axis ${ax}` });
    return [dx];
  });
  return y;
}
