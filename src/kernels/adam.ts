import { keep } from '../tensor/scope.js';
import { tensor, zeros, type Tensor } from '../tensor/tensor.js';
import type { KernelDef } from '../tensor/kernel.js';
import { fmt } from '../tensor/shape.js';
import { HnfnetError, ShapeError } from '../tensor/errors.js';
import { dispatchElementwise } from '../tensor/chunks.js';

/**
 * torch.optim.Adam (amsgrad=False, maximize=False) with L2 weight decay added to the
 * gradient, as one fused kernel per parameter tensor: it reads g, p, m, v once and
 * writes p, m, v once (7 floats per element). The step count lives on the host, so the
 * bias corrections arrive as uniforms computed in float64 and nothing is read back.
 *
 * Why one dispatch per tensor rather than one over a packed list: every parameter owns
 * its buffer, so packing would cost a copy of every parameter and gradient each step; a
 * few hundred dispatches of 20–40 µs cost less than that, and per-parameter state is
 * what checkpoints (PyTorch's state_dict) store anyway. A parameter beyond one storage
 * binding is updated over element ranges (the update is elementwise).
 *
 * The update writes into the parameter's own buffer (and into views sharing it) and is
 * invisible to autograd: run it after backward, when nothing saved for a backward still
 * needs the old values.
 */

function adamKernel(vec4: boolean): KernelDef {
  const ty = vec4 ? 'vec4<f32>' : 'f32';
  return {
    name: vec4 ? 'adam_vec4' : 'adam',
    inputs: [{ name: 'g', type: ty }],
    outputs: [
      { name: 'p', type: ty },
      { name: 'm', type: ty },
      { name: 'v', type: ty },
    ],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'beta2', type: 'f32' },
      { name: 'one_minus_beta1', type: 'f32' },
      { name: 'one_minus_beta2', type: 'f32' },
      { name: 'weight_decay', type: 'f32' },
      { name: 'step_size', type: 'f32' },
      { name: 'bias_correction2_sqrt', type: 'f32' },
      { name: 'eps', type: 'f32' },
    ],
    workgroupSize: 256,
    // Same operation order as PyTorch's single-tensor Adam: m.lerp_(g, 1 − β1),
    // v·β2 + (1 − β2)·g², p − step_size·m / (sqrt(v)/sqrt(bc2) + eps).
    body: `  if (idx >= u.n) { return; }
  let pv = p[idx];
  let gv = g[idx] + u.weight_decay * pv;
  let mv = m[idx] + u.one_minus_beta1 * (gv - m[idx]);
  let vv = u.beta2 * v[idx] + u.one_minus_beta2 * gv * gv;
  m[idx] = mv;
  v[idx] = vv;
  p[idx] = pv - u.step_size * mv / (sqrt(vv) / u.bias_correction2_sqrt + u.eps);`,
  };
}

const adamScalar = adamKernel(false);
const adamVec4 = adamKernel(true);

/** The kernels of this file, for Device.warmup(). */
export const adamKernels: readonly KernelDef[] = [adamScalar, adamVec4];

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** L2 penalty added to the gradient (torch.optim.Adam's weight_decay, not AdamW's). */
  weightDecay?: number;
}

export interface ResolvedAdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/** One parameter's state: PyTorch's `step`, `exp_avg`, `exp_avg_sq`. */
export interface AdamParamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/** The state of one parameter on the host (checkpoints). */
export interface AdamStateSnapshot {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/** torch.optim.Adam's defaults. */
export function resolveAdamOptions(opts: AdamOptions = {}): ResolvedAdamOptions {
  const r = { lr: opts.lr ?? 1e-3, betas: opts.betas ?? ([0.9, 0.999] as const), eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? 0 };
  if (!(r.lr >= 0)) throw new HnfnetError(`adam: invalid learning rate ${r.lr}`);
  if (!(r.eps >= 0)) throw new HnfnetError(`adam: invalid epsilon ${r.eps}`);
  if ((r.betas as readonly number[]).length !== 2) throw new HnfnetError(`adam: betas must be a pair, got [${r.betas.join(', ')}]`);
  for (const [i, b] of r.betas.entries()) if (!(b >= 0 && b < 1)) throw new HnfnetError(`adam: invalid beta parameter at index ${i}: ${b}`);
  if (!(r.weightDecay >= 0)) throw new HnfnetError(`adam: invalid weight_decay ${r.weightDecay}`);
  return r;
}

/**
 * Adam's moment estimates per parameter, on the GPU, keyed by the parameter tensor
 * itself. State tensors are created (zeroed) at a parameter's first step and are held
 * outside every tidy() scope until `delete`/`dispose`.
 */
export class AdamState {
  private readonly entries = new Map<Tensor, AdamParamState>();

  get size(): number {
    return this.entries.size;
  }

  /** Parameters that have state, in the order they got it. */
  params(): Tensor[] {
    return [...this.entries.keys()];
  }

  get(param: Tensor): AdamParamState | undefined {
    return this.entries.get(param);
  }

  /** The parameter's state, created as zeros with step 0 when it has none. */
  ensure(param: Tensor): AdamParamState {
    let s = this.entries.get(param);
    if (!s) {
      const opts = { device: param.device };
      s = { step: 0, expAvg: keep(zeros(param.shape, opts)), expAvgSq: keep(zeros(param.shape, opts)) };
      this.entries.set(param, s);
    }
    return s;
  }

  /** Copies one parameter's state to the host (null when it has none yet). */
  async read(param: Tensor): Promise<AdamStateSnapshot | null> {
    const s = this.entries.get(param);
    if (!s) return null;
    const [expAvg, expAvgSq] = await Promise.all([s.expAvg.data(), s.expAvgSq.data()]);
    return { step: s.step, expAvg, expAvgSq };
  }

  /** Replaces one parameter's state with host values (a checkpoint being restored). */
  load(param: Tensor, snap: AdamStateSnapshot): void {
    if (snap.expAvg.length !== param.size || snap.expAvgSq.length !== param.size) {
      throw new ShapeError(
        `AdamState.load: state of ${snap.expAvg.length} / ${snap.expAvgSq.length} values does not fit parameter ${param.name ?? ''}${fmt(param.shape)} (${param.size} elements)`,
      );
    }
    if (!Number.isInteger(snap.step) || snap.step < 0) throw new HnfnetError(`AdamState.load: step must be a non-negative integer, got ${snap.step}`);
    this.delete(param);
    const opts = { device: param.device };
    this.entries.set(param, { step: snap.step, expAvg: keep(tensor(snap.expAvg, param.shape, opts)), expAvgSq: keep(tensor(snap.expAvgSq, param.shape, opts)) });
  }

  /** Drops one parameter's state. */
  delete(param: Tensor): void {
    const s = this.entries.get(param);
    if (!s) return;
    s.expAvg.dispose();
    s.expAvgSq.dispose();
    this.entries.delete(param);
  }

  dispose(): void {
    for (const p of [...this.entries.keys()]) this.delete(p);
  }
}

function check(param: Tensor, grad: Tensor): void {
  const name = param.name ? ` ${param.name}` : '';
  if (param.isDisposed) throw new HnfnetError(`adam: parameter${name} was disposed`);
  if (param.gradFn) throw new HnfnetError(`adam: parameter${name} ${fmt(param.shape)} is the result of an op, not a leaf; only leaves can be optimized`);
  if (grad.device !== param.device) throw new HnfnetError(`adam: gradient of parameter${name} lives on another device`);
  // Any shape with the parameter's element count is accepted (a flat view of a gradient, say).
  if (grad.size !== param.size) {
    throw new ShapeError(`adam: gradient ${fmt(grad.shape)} does not match parameter${name} ${fmt(param.shape)}`);
  }
  if (grad.buffer === param.buffer) throw new HnfnetError(`adam: gradient of parameter${name} shares the parameter's buffer`);
}

function dispatchAdam(param: Tensor, grad: Tensor, st: AdamParamState, o: ResolvedAdamOptions): void {
  const t = st.step;
  const [b1, b2] = o.betas;
  const bc1 = 1 - Math.pow(b1, t);
  const bc2 = 1 - Math.pow(b2, t);
  const n = param.size;
  if (n === 0) return;
  // vec4 bindings need byte sizes divisible by 16, which n % 4 == 0 gives for all four.
  const vec = n % 4 === 0;
  dispatchElementwise(
    vec ? adamVec4 : adamScalar,
    [grad],
    [param, st.expAvg, st.expAvgSq],
    {
      beta2: b2,
      one_minus_beta1: 1 - b1,
      one_minus_beta2: 1 - b2,
      weight_decay: o.weightDecay,
      step_size: o.lr / bc1,
      bias_correction2_sqrt: Math.sqrt(bc2),
      eps: o.eps,
    },
    `${param.name ? `${param.name} ` : ''}${fmt(param.shape)} step ${t}`,
    vec ? 4 : 1,
  );
}

/**
 * One Adam step over `params` with `grads[i]` the gradient of `params[i]` (e.g.
 * `params.map((p) => p.grad)`); a parameter whose gradient is null or undefined is
 * skipped and keeps its step count, as in PyTorch. Every parameter is checked before
 * any is updated. Parameters are updated in place; `lr` and the rest may change from
 * call to call (schedules).
 */
export function adamStep(params: readonly Tensor[], grads: readonly (Tensor | null | undefined)[], state: AdamState, opts: AdamOptions = {}): void {
  if (grads.length !== params.length) throw new HnfnetError(`adamStep: ${params.length} parameters but ${grads.length} gradients`);
  const o = resolveAdamOptions(opts);
  const work: [Tensor, Tensor, AdamParamState][] = [];
  const seen = new Set<Tensor>();
  params.forEach((p, i) => {
    const g = grads[i];
    if (!g) return;
    if (seen.has(p)) throw new HnfnetError(`adamStep: parameter ${p.name ?? `#${i}`} ${fmt(p.shape)} appears twice`);
    seen.add(p);
    check(p, g);
    work.push([p, g, state.ensure(p)]);
  });
  for (const [p, , st] of work) {
    if (st.expAvg.size !== p.size) throw new ShapeError(`adam: state ${fmt(st.expAvg.shape)} does not match parameter ${p.name ?? ''}${fmt(p.shape)}`);
  }
  for (const [p, g, st] of work) {
    st.step += 1;
    dispatchAdam(p, g, st, o);
  }
}
