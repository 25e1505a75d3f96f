import { attachGrad, empty, noGrad, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { dispatchElementwise } from '../tensor/chunks.js';
import { label, sameDevice } from './util.js';
import { sum } from './reduce.js';
import { relu } from './unary.js';
import { convGeometry, type Conv3dKernelOptions } from './conv3d-geometry.js';
import { convBlocks } from './conv3d-split.js';
import { DEFAULT_GEMM_TILES, gemmFits, gemmForward } from './conv3d-gemm.js';
import { implFor } from './conv3d.js';

/** gy where the output was positive, else 0: relu's backward, read from the output (y > 0 exactly where the pre-activation is). */
const maskKernel: KernelDef = {
  name: 'conv3d_relu_mask',
  inputs: ['gs', 'ys'],
  outputs: ['gm'],
  uniforms: [{ name: 'n', type: 'u32' }],
  workgroupSize: 256,
  body: `  if (idx >= u.n) { return; }
  gm[idx] = select(0.0, gs[idx], ys[idx] > 0.0);`,
};

function reluMask(gy: Tensor, y: Tensor): Tensor {
  const gm = empty(gy.shape, gy.device, 'conv3d_relu_mask');
  dispatchElementwise(maskKernel, [gy, y], [gm], {}, label(gy));
  return gm;
}

/**
 * relu(conv3d(x, weight, bias)) as one op, equal to the two ops in value and gradient. With
 * `variant: 'gemm'` the ReLU runs in the convolution's epilogue, which saves a pass over the
 * output; other variants run the same math as conv3d then relu. The backward masks dy by
 * y > 0 and runs conv3d's passes on it, so the pre-activation is never kept.
 */
export function conv3dBiasRelu(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv3dKernelOptions = {}): Tensor {
  sameDevice('conv3dBiasRelu', ...(bias ? [x, weight, bias] : [x, weight]));
  const g = convGeometry(x, weight, bias, opts);
  const impl = implFor(x, g, opts);
  const fused = opts.variant === 'gemm' && gemmFits(g, x.device).forward && !convBlocks(g, x.device, null);
  let y: Tensor;
  if (fused) y = gemmForward(x, weight, bias, g, DEFAULT_GEMM_TILES, 'relu');
  else {
    const pre = impl.forward(x, weight, bias, g);
    y = noGrad(() => relu(pre));
    pre.dispose();
  }
  const needX = x.requiresGrad;
  const needW = weight.requiresGrad;
  const needB = !!bias?.requiresGrad;
  attachGrad('conv3d_bias_relu', bias ? [x, weight, bias] : [x, weight], [y], [x, weight, y], (grads, [xs, ws, ys]) => {
    const gm = reluMask(grads[0]!, ys!);
    const gx = needX ? impl.inputGrad(gm, ws!, g) : null;
    const gw = needW ? impl.weightGrad(xs!, gm, g) : null;
    const gb = needB ? sum(gm, [0, 2, 3, 4]) : null;
    gm.dispose();
    return bias ? [gx, gw, gb] : [gx, gw];
  });
  return y;
}
