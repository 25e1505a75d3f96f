import { attachGrad, empty, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt, numel, sameShape } from '../tensor/shape.js';
import { HnfnetError, ShapeError } from '../tensor/errors.js';
import { arg, sameDevice } from './util.js';
import { sum } from './reduce.js';
import { bindingElems, dispatchElementwise, elementRanges, rangeArg } from '../tensor/chunks.js';
import { block, place, planeBlocks, writeRange } from './split.js';

/**
 * The training losses: binary cross-entropy on logits and MONAI's generalized Dice loss.
 * Both reduce in two stages without atomics: a fused pass computes per-chunk partial sums
 * of what the loss needs (each invocation walks a strided slice, so adjacent invocations
 * read adjacent addresses), then reduce.ts's barrier-free `sum` folds the chunks. Their
 * backward is one elementwise pass that reads the upstream gradient from the GPU, so no
 * value ever comes back to the host.
 */

export type LossReduction = 'mean' | 'sum' | 'none';

/** Chunks a flat reduction of n elements is split into: enough to fill the device, each still a few hundred elements. */
const MAX_CHUNKS = 8192;
const MIN_PER_CHUNK = 256;

/**
 * The element type of a kernel variant. Where sizes allow (a multiple of 4 elements, or
 * of 4 voxels per Dice row), tensors bind as vec4 arrays: one load per 4 elements. On
 * lavapipe a load costs far more than the arithmetic around it; these passes ran 2–5×
 * faster for it there.
 */
function ty(vec: boolean) {
  const t = vec ? 'vec4<f32>' : 'f32';
  return {
    t,
    zero: `${t}(0.0)`,
    bind: (name: string) => (vec ? { name, type: 'vec4<f32>' as const } : name),
    /** Sum of the components (identity for f32). */
    total: (e: string) => (vec ? `dot(${e}, vec4<f32>(1.0))` : e),
    // Stable forms: one exp of a non-positive argument each, no overflow for large |x|.
    helpers: `fn bce_term(x: ${t}, t: ${t}) -> ${t} {
  return max(x, ${t}(0.0)) - x * t + log(1.0 + exp(-abs(x)));
}
fn sigmoid_stable(x: ${t}) -> ${t} {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= ${t}(0.0));
}`,
  };
}

/** Per chunk: scale · Σ over elements chunk, chunk + chunks, ... of the BCE terms (n counts array elements). */
function bcePartialKernel(vec: boolean): KernelDef {
  const T = ty(vec);
  return {
    name: vec ? 'bce_with_logits_partial_vec4' : 'bce_with_logits_partial',
    inputs: [T.bind('xs'), T.bind('ts')],
    outputs: ['part'],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'chunks', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ],
    workgroupSize: 64,
    helpers: T.helpers,
    body: `  if (idx >= u.chunks) { return; }
  var acc = ${T.zero};
  for (var i = idx; i < u.n; i = i + u.chunks) { acc = acc + bce_term(xs[i], ts[i]); }
  part[idx] = ${T.total('acc')} * u.scale;`,
  };
}

function bceElementwiseKernel(vec: boolean): KernelDef {
  const T = ty(vec);
  return {
    name: vec ? 'bce_with_logits_none_vec4' : 'bce_with_logits_none',
    inputs: [T.bind('xs'), T.bind('ts')],
    outputs: [T.bind('ys')],
    uniforms: [{ name: 'n', type: 'u32' }],
    workgroupSize: 256,
    helpers: T.helpers,
    body: `  if (idx >= u.n) { return; }
  ys[idx] = bce_term(xs[idx], ts[idx]);`,
  };
}

/** d/dx = g·scale·(σ(x) − t), g one value for the reductions, one per element for 'none'. */
function bceBackwardKernel(vec: boolean, perElement: boolean): KernelDef {
  const T = ty(vec);
  return {
    name: `bce_with_logits_backward${perElement ? '_none' : ''}${vec ? '_vec4' : ''}`,
    inputs: [T.bind('xs'), T.bind('ts'), perElement ? T.bind('gs') : 'gs'],
    outputs: [T.bind('dx')],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'scale', type: 'f32' },
    ],
    workgroupSize: 256,
    helpers: T.helpers,
    body: `  if (idx >= u.n) { return; }
  dx[idx] = gs[${perElement ? 'idx' : '0'}] * u.scale * (sigmoid_stable(xs[idx]) - ts[idx]);`,
  };
}

const bceKernels = {
  partial: [bcePartialKernel(false), bcePartialKernel(true)],
  none: [bceElementwiseKernel(false), bceElementwiseKernel(true)],
  backward: [bceBackwardKernel(false, false), bceBackwardKernel(true, false)],
  backwardNone: [bceBackwardKernel(false, true), bceBackwardKernel(true, true)],
};

export interface BCEOptions {
  /** 'mean' (default, PyTorch's), 'sum', or 'none' (elementwise losses in logits' shape). */
  reduction?: LossReduction;
}

function flatChunks(n: number): number {
  return Math.max(1, Math.min(MAX_CHUNKS, Math.ceil(n / MIN_PER_CHUNK)));
}

/**
 * torch.nn.functional.binary_cross_entropy_with_logits: max(x, 0) − x·t + log(1 + e^−|x|),
 * reduced by mean (default), sum or not at all. The gradient flows to the logits only
 * (targets are data; a target that requires grad gets none).
 */
export function bceWithLogits(logits: Tensor, target: Tensor, opts: BCEOptions = {}): Tensor {
  const reduction = opts.reduction ?? 'mean';
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new HnfnetError(`bceWithLogits: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
  sameDevice('bceWithLogits', logits, target);
  if (!sameShape(logits.shape, target.shape)) {
    throw new ShapeError(`bceWithLogits: target ${fmt(target.shape)} must have the logits' shape ${fmt(logits.shape)}`);
  }
  const device = logits.device;
  const n = logits.size;
  const what = fmt(logits.shape);
  const vec = n % 4 === 0 && n > 0;
  const v = vec ? 1 : 0;
  let y: Tensor;
  let scale = 1;
  if (reduction === 'none') {
    y = empty(logits.shape, device, 'bce_with_logits');
    dispatchElementwise(bceKernels.none[v]!, [logits, target], [y], {}, what, vec ? 4 : 1);
  } else {
    // torch gives NaN for the mean of nothing, 0 for the sum.
    scale = reduction === 'mean' ? (n === 0 ? NaN : 1 / n) : 1;
    // Partial sums per element range (one range when it fits one binding), all summed at the end.
    const ranges = n * 4 <= device.limits.maxStorageBufferBindingSize ? [[0, n] as [number, number]] : elementRanges(device, n);
    const counts = ranges.map(([, count]) => flatChunks(vec ? count / 4 : count));
    const part = empty([counts.reduce((a, b) => a + b, 0)], device, 'bce_with_logits');
    let at = 0;
    ranges.forEach(([start, count], i) => {
      const chunks = counts[i]!;
      const u = vec ? count / 4 : count;
      const out = part.viewRange(at, [chunks]);
      const dst = out ?? empty([chunks], device, 'bce_with_logits');
      device.dispatch(bceKernels.partial[v]!, { inputs: [rangeArg(logits, start, count), rangeArg(target, start, count)], outputs: [arg(dst)], uniforms: { n: u, chunks, scale }, invocations: chunks, label: what });
      if (!out) place(dst, part, at);
      dst.dispose();
      at += chunks;
    });
    y = sum(part);
    part.dispose();
  }
  const backwardKernel = (reduction === 'none' ? bceKernels.backwardNone : bceKernels.backward)[v]!;
  attachGrad('bce_with_logits', [logits, target], [y], [logits, target], (g, [xs, ts]) => {
    const dx = empty(xs!.shape, xs!.device, 'bce_with_logits_backward');
    dispatchElementwise(backwardKernel, [xs!, ts!, g[0]!], [dx], { scale }, what, vec ? 4 : 1);
    return [dx, null];
  });
  return y;
}

// ---- generalized Dice ------------------------------------------------------------------

/**
 * Per (row = n·C + c, chunk): Σ p·r, Σ p, Σ r over the row's elements chunk, chunk +
 * chunks, ... (m counts array elements per row), p being the input or, with `sig`, its
 * sigmoid. Grid [chunks, rows].
 */
function dicePartialKernel(vec: boolean, sig: boolean): KernelDef {
  const T = ty(vec);
  return {
    name: `generalized_dice_partial${sig ? '_sigmoid' : ''}${vec ? '_vec4' : ''}`,
    inputs: [T.bind('ps'), T.bind('rs')],
    outputs: ['part'],
    uniforms: [
      { name: 'm', type: 'u32' },
      { name: 'chunks', type: 'u32' },
    ],
    workgroupSize: 64,
    helpers: T.helpers,
    body: `  let ch = gid.x;
  if (ch >= u.chunks) { return; }
  let row = wid.y;
  let base = row * u.m;
  var si = ${T.zero};
  var sp = ${T.zero};
  var sr = ${T.zero};
  for (var i = ch; i < u.m; i = i + u.chunks) {
    let p = ${sig ? 'sigmoid_stable(ps[base + i])' : 'ps[base + i]'};
    let r = rs[base + i];
    si = fma(p, r, si);
    sp = sp + p;
    sr = sr + r;
  }
  let o = (row * u.chunks + ch) * 3u;
  part[o] = ${T.total('si')};
  part[o + 1u] = ${T.total('sp')};
  part[o + 2u] = ${T.total('sr')};`,
  };
}

/**
 * The loss from the sums [N, C, 3] (one invocation: N·C is small), and per (n, c) the two
 * coefficients of the gradient, d y / d p = a + b·r with w held constant:
 * a = w·A / (N·B²), b = −2·w / (N·B), where A = 2 Σ_c w·I + s_nr and B = Σ_c w·S + s_dr.
 */
const diceLossKernel: KernelDef = {
  name: 'generalized_dice_loss',
  inputs: ['sums'],
  outputs: ['y', 'coef'],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'c', type: 'u32' },
    { name: 'wtype', type: 'u32' },
    { name: 'smooth_nr', type: 'f32' },
    { name: 'smooth_dr', type: 'f32' },
  ],
  workgroupSize: 1,
  helpers: `// w_type: 0 square (1/G²), 1 simple (1/G), 2 uniform (1). Infinite where G = 0 (not for uniform).
fn dice_weight(g: f32) -> f32 {
  if (u.wtype == 0u) { return 1.0 / (g * g); }
  if (u.wtype == 1u) { return 1.0 / g; }
  return 1.0;
}
fn dice_infinite(g: f32) -> bool { return u.wtype != 2u && g == 0.0; }`,
  body: `  if (idx != 0u) { return; }
  let inv_n = 1.0 / f32(u.n);
  var total = 0.0;
  for (var n = 0u; n < u.n; n = n + 1u) {
    // MONAI: infinite weights (empty target channels) become the sample's largest finite one, or 0.
    var wmax = 0.0;
    for (var c = 0u; c < u.c; c = c + 1u) {
      let g = sums[(n * u.c + c) * 3u + 2u];
      if (!dice_infinite(g)) { wmax = max(wmax, dice_weight(g)); }
    }
    var num = 0.0;
    var den = 0.0;
    for (var c = 0u; c < u.c; c = c + 1u) {
      let o = (n * u.c + c) * 3u;
      let g = sums[o + 2u];
      let w = select(dice_weight(g), wmax, dice_infinite(g));
      num = num + w * sums[o];
      den = den + w * (sums[o + 1u] + g);
    }
    let a = 2.0 * num + u.smooth_nr;
    let b = den + u.smooth_dr;
    total = total + (1.0 - a / b);
    for (var c = 0u; c < u.c; c = c + 1u) {
      let g = sums[(n * u.c + c) * 3u + 2u];
      let w = select(dice_weight(g), wmax, dice_infinite(g));
      coef[(n * u.c + c) * 2u] = w * a / (b * b) * inv_n;
      coef[(n * u.c + c) * 2u + 1u] = -2.0 * w / b * inv_n;
    }
  }
  y[0] = total * inv_n;`,
};

/**
 * d y / d p = g·(a + b·r) per (n, c) row; with `sig`, the input is the logit x and the
 * gradient is also multiplied by σ(x)(1 − σ(x)). Grid [row elements, rows].
 */
function diceBackwardKernel(vec: boolean, sig: boolean): KernelDef {
  const T = ty(vec);
  return {
    name: `generalized_dice_backward${sig ? '_sigmoid' : ''}${vec ? '_vec4' : ''}`,
    inputs: sig ? [T.bind('rs'), T.bind('xs'), 'coef', 'gs'] : [T.bind('rs'), 'coef', 'gs'],
    outputs: [T.bind('dp')],
    uniforms: [{ name: 'm', type: 'u32' }],
    workgroupSize: 256,
    helpers: T.helpers,
    body: `  if (gid.x >= u.m) { return; }
  let row = wid.y;
  let i = row * u.m + gid.x;
  let d = gs[0] * (coef[row * 2u] + coef[row * 2u + 1u] * rs[i]);
${sig ? '  let p = sigmoid_stable(xs[i]);\n  dp[i] = d * p * (1.0 - p);' : '  dp[i] = d;'}`,
  };
}

/** Indexed [sigmoid ? 1 : 0][vec4 ? 1 : 0]. */
const diceKernels = {
  partial: [0, 1].map((sg) => [dicePartialKernel(false, sg === 1), dicePartialKernel(true, sg === 1)]),
  backward: [0, 1].map((sg) => [diceBackwardKernel(false, sg === 1), diceBackwardKernel(true, sg === 1)]),
};

/** The kernels of this file, for Device.warmup(). */
export const lossKernels: readonly KernelDef[] = [
  ...Object.values(bceKernels).flat(),
  ...diceKernels.partial.flat(),
  diceLossKernel,
  ...diceKernels.backward.flat(),
];

export type DiceWeightType = 'square' | 'simple' | 'uniform';

export interface GeneralizedDiceOptions {
  /** MONAI's w_type (default 'square': w = 1/G²). */
  wType?: DiceWeightType;
  /** Added to numerator and denominator (MONAI's smooth_nr = smooth_dr; default 1e-5). */
  smooth?: number;
  /** Overrides `smooth` in the numerator / denominator separately. */
  smoothNr?: number;
  smoothDr?: number;
  /**
   * The input holds logits: apply the sigmoid first (MONAI's sigmoid=True), fused into the
   * loss's passes; the gradient is then with respect to the logits.
   */
  sigmoid?: boolean;
}

const WTYPES: Record<DiceWeightType, number> = { square: 0, simple: 1, uniform: 2 };

/** Blocks [r0, r1) of the rows (n·C + c, m elements each) of t that fit one binding (all rows when t fits). */
function rowBlocks(t: Tensor, rows: number, m: number): [number, number][] {
  if (t.size <= bindingElems(t.device)) return [[0, rows]];
  return planeBlocks(`generalizedDiceLoss of ${fmt(t.shape)}`, [1, rows, m], bindingElems(t.device), t.device).map((b) => [b.c0, b.c1]);
}

/** Rows of one flat reduction pass: enough invocations in all, each row split in strided chunks. */
function diceChunks(rows: number, m: number): number {
  return Math.max(1, Math.min(Math.ceil(MAX_CHUNKS / rows), Math.ceil(m / MIN_PER_CHUNK)));
}

/**
 * MONAI's GeneralizedDiceLoss(w_type, batch=False) on probabilities [N, C, ...spatial]
 * and a target of the same shape: per sample n and channel c, I = Σ p·r, S = Σ (p + r),
 * G = Σ r, w = 1/G² (square); infinite w (G = 0) take the sample's largest finite w (0 if
 * none); loss_n = 1 − (2 Σ_c w·I + s) / (Σ_c w·S + s); the result is the mean over n (0-d).
 * The gradient flows to probs with w constant (MONAI computes w from the target alone).
 * With `sigmoid`, the first argument holds logits and σ is applied inside the loss's own
 * passes (no separate sigmoid tensor, forward or backward).
 */
export function generalizedDiceLoss(probs: Tensor, target: Tensor, opts: GeneralizedDiceOptions = {}): Tensor {
  sameDevice('generalizedDiceLoss', probs, target);
  if (probs.rank < 2) throw new ShapeError(`generalizedDiceLoss: probs must be [N, C, ...spatial], got ${fmt(probs.shape)}`);
  if (!sameShape(probs.shape, target.shape)) {
    throw new ShapeError(`generalizedDiceLoss: target ${fmt(target.shape)} must have the probabilities' shape ${fmt(probs.shape)}`);
  }
  const wType = opts.wType ?? 'square';
  if (!(wType in WTYPES)) throw new HnfnetError(`generalizedDiceLoss: w_type must be 'square', 'simple' or 'uniform', got '${String(wType)}'`);
  const smoothNr = opts.smoothNr ?? opts.smooth ?? 1e-5;
  const smoothDr = opts.smoothDr ?? opts.smooth ?? 1e-5;
  const [N, C] = probs.shape as [number, number];
  const m = numel(probs.shape.slice(2));
  if (N === 0 || C === 0) throw new ShapeError(`generalizedDiceLoss: empty batch or channels in ${fmt(probs.shape)}`);
  const device = probs.device;
  const what = fmt(probs.shape);
  const rows = N * C;

  // vec4 rows need every row to start on a vec4: m a multiple of 4.
  const vec = m % 4 === 0 && m > 0;
  const v = vec ? 1 : 0;
  const mu = vec ? m / 4 : m;
  const chunks = diceChunks(rows, mu);
  const part = empty([rows, chunks, 3], device, 'generalized_dice_loss');
  const sg = opts.sigmoid ? 1 : 0;
  for (const [r0, r1] of rowBlocks(probs, rows, m)) {
    const [pb, tb] = [probs, target].map((t) => block(t, r0 * m, [(r1 - r0) * m]));
    writeRange(part, r0 * chunks * 3, [(r1 - r0) * chunks * 3], (out) =>
      device.dispatch(diceKernels.partial[sg]![v]!, { inputs: [arg(pb!), arg(tb!)], outputs: [arg(out)], uniforms: { m: mu, chunks }, workgroups: [Math.ceil(chunks / 64), r1 - r0, 1], label: what }),
    );
    pb!.dispose();
    tb!.dispose();
  }
  const sums = chunks === 1 ? part : sum(part, 1);
  if (sums !== part) part.dispose();

  const y = empty([], device, 'generalized_dice_loss');
  const coef = empty([rows, 2], device, 'generalized_dice_loss');
  device.dispatch(diceLossKernel, {
    inputs: [arg(sums)],
    outputs: [arg(y), arg(coef)],
    uniforms: { n: N, c: C, wtype: WTYPES[wType], smooth_nr: smoothNr, smooth_dr: smoothDr },
    workgroups: [1, 1, 1],
    label: what,
  });
  sums.dispose();
  const backwardKernel = diceKernels.backward[sg]![v]!;
  const save = opts.sigmoid ? [target, coef, probs] : [target, coef];
  attachGrad('generalized_dice_loss', [probs, target], [y], save, (g, [rs, cf, xs]) => {
    const dp = empty(rs!.shape, rs!.device, 'generalized_dice_backward');
    for (const [r0, r1] of rowBlocks(rs!, rows, m)) {
      const rb = block(rs!, r0 * m, [(r1 - r0) * m]);
      const xb = xs ? block(xs, r0 * m, [(r1 - r0) * m]) : null;
      const cb = block(cf!, r0 * 2, [(r1 - r0) * 2]);
      writeRange(dp, r0 * m, [(r1 - r0) * m], (out) =>
        rs!.device.dispatch(backwardKernel, {
          inputs: xb ? [arg(rb), arg(xb), arg(cb), arg(g[0]!)] : [arg(rb), arg(cb), arg(g[0]!)],
          outputs: [arg(out)],
          uniforms: { m: mu },
          workgroups: [Math.ceil(mu / 256), r1 - r0, 1],
          label: what,
        }),
      );
      [rb, xb, cb].forEach((t) => t?.dispose());
    }
    return [dp, null];
  });
  coef.dispose();
  return y;
}
