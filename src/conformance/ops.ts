import type { Tensor } from '../tensor/tensor.js';
import * as k from '../kernels/index.js';
import { attrBool, attrList, attrNumber, CaseFormatError } from './case.js';
import { NotImplementedError } from '../tensor/errors.js';

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
  if (!t) throw new CaseFormatError(`missing input "${name}"`);
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
  interpolate_trilinear: (i, a) => ({
    y: k.interpolate(input(i, 'x'), {
      ...(a.size !== undefined && a.size !== null ? { size: attrList(a, 'size', 3) } : { scaleFactor: attrList(a, 'scale_factor', 3) }),
      // PyTorch's None (JSON null) means false for both flags.
      alignCorners: a.align_corners !== null && attrBool(a, 'align_corners', false),
      recomputeScaleFactor: a.recompute_scale_factor !== null && attrBool(a, 'recompute_scale_factor', false),
    }),
  }),
  conv3d: (i, a) => ({
    y: k.conv3d(input(i, 'x'), input(i, 'weight'), i.bias ?? null, { stride: attrList(a, 'stride', 3, [1, 1, 1]), padding: attrList(a, 'padding', 3, [0, 0, 0]) }),
  }),
  instance_norm3d: (i, a) => ({ y: k.instanceNorm3d(input(i, 'x'), i.weight ?? null, i.bias ?? null, attrNumber(a, 'eps', 1e-5)) }),
  global_avg_pool3d: (i) => ({ y: k.globalAvgPool3d(input(i, 'x')) }),
  em_attention: (i, a) => {
    const r = k.emAttention(input(i, 'x'), input(i, 'mu'), { stages: attrNumber(a, 'stages', 3) });
    return { y: r.y, mu: r.mu };
  },
  bce_with_logits: (i, a) => ({ y: k.bceWithLogits(input(i, 'logits'), input(i, 'target'), { reduction: (a.reduction ?? 'mean') as k.LossReduction }) }),
  generalized_dice_loss: (i, a) => ({
    y: k.generalizedDiceLoss(input(i, 'probs'), input(i, 'target'), {
      wType: (a.w_type ?? 'square') as k.DiceWeightType,
      smooth: attrNumber(a, 'smooth', 1e-5),
      ...(a.smooth_nr !== undefined ? { smoothNr: attrNumber(a, 'smooth_nr') } : {}),
      ...(a.smooth_dr !== undefined ? { smoothDr: attrNumber(a, 'smooth_dr') } : {}),
      ...(a.sigmoid === true ? { sigmoid: true } : {}),
    }),
  }),
  adam: (i, a) => {
    const param = input(i, 'param');
    const grads = numbered(i, 'grad');
    const steps = attrNumber(a, 'steps', grads.length);
    if (!Number.isInteger(steps) || steps < 0 || steps > grads.length) throw new CaseFormatError(`adam: steps = ${steps} with ${grads.length} gradients given`);
    if (a.amsgrad === true || a.maximize === true) throw new NotImplementedError('adam: amsgrad and maximize are not supported');
    const opts = { lr: attrNumber(a, 'lr', 1e-3), betas: attrList(a, 'betas', 2, [0.9, 0.999]) as [number, number], eps: attrNumber(a, 'eps', 1e-8), weightDecay: attrNumber(a, 'weight_decay', 0) };
    const state = new k.AdamState();
    for (let s = 0; s < steps; s++) k.adamStep([param], [grads[s]!], state, opts);
    const st = state.ensure(param);
    return { param, exp_avg: st.expAvg, exp_avg_sq: st.expAvgSq };
  },
};
