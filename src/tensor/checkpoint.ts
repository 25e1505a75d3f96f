/**
 * Activation checkpointing in the manner of torch.utils.checkpoint: trade compute for memory
 * by not keeping a function's activations for backward, and computing them again there.
 *
 * `checkpoint(fn, inputs)` runs fn without recording a graph (what it makes besides its
 * outputs is freed as in inference) and records one node whose edges are the inputs and the
 * leaves fn used (its parameters); the node saves only the inputs. Its backward calls fn again
 * on detached copies of the inputs with gradients on, runs the incoming gradients back through
 * that second graph (so parameter gradients accumulate into `.grad` as in a plain backward),
 * hands the inputs' gradients on and frees the second graph before it returns: only one
 * checkpointed region's activations exist at a time.
 *
 * fn must compute the same values both times. Side effects (a moving average of a module's
 * state) must happen once: code that has them asks `recomputing()` and leaves them out the
 * second time, and takes what the first pass read from its state through `carryOver()` so
 * that the recompute sees the state as the first pass did. Nothing in fn may draw random
 * numbers (there is no dropout in this library).
 */
import { backwardFrom } from './autograd.js';
import { HnfnetError } from './errors.js';
import { keep, tidy } from './scope.js';
import { attachGrad, enableGrad, isGradEnabled, nextTensorId, noGrad, watchOpInputs, type Tensor } from './tensor.js';

/** One checkpoint call's record of carried-over state, filled in its first pass and read in its recompute. */
class Carry {
  phase: 'forward' | 'recompute' = 'forward';
  readonly values = new Map<object, Tensor[]>();
  private readonly cursor = new Map<object, number>();

  put(key: object, t: Tensor): void {
    const list = this.values.get(key);
    if (list) list.push(t);
    else this.values.set(key, [t]);
  }

  /** The values in the order they were put (a key used twice in fn is read back twice). */
  take(key: object): Tensor {
    const i = this.cursor.get(key) ?? 0;
    const t = this.values.get(key)?.[i];
    if (!t) throw new HnfnetError('checkpoint(): the recompute read more carried-over state than the first pass stored (fn must run the same way twice)');
    this.cursor.set(key, i + 1);
    return t;
  }

  rewind(): void {
    this.cursor.clear();
  }

  all(): Tensor[] {
    return [...this.values.values()].flat();
  }
}

const carries: Carry[] = [];

/** Whether code runs in a checkpoint's recompute, where side effects of the first pass must not happen again. */
export function recomputing(): boolean {
  return carries.some((c) => c.phase === 'recompute');
}

/**
 * State a checkpointed fn reads and then changes (say a module's running bases), so that the
 * recompute sees it as the first pass did: outside a checkpoint `read()` itself; in a first
 * pass `read()`, remembered (a view, kept until the checkpoint's backward is done); in a
 * recompute what the first pass remembered under `key`, in the same order. The result belongs
 * to no scope and must not be disposed by the caller.
 */
export function carryOver(key: object, read: () => Tensor): Tensor {
  let r = carries.length - 1;
  while (r >= 0 && carries[r]!.phase !== 'recompute') r--;
  const value = r >= 0 ? carries[r]!.take(key) : read();
  // A checkpoint nested in the recompute of another one remembers it for its own recompute.
  for (let i = r + 1; i < carries.length; i++) carries[i]!.put(key, keep(value.detach()));
  return value;
}

function withCarry<T>(c: Carry, fn: () => T): T {
  carries.push(c);
  try {
    return fn();
  } finally {
    carries.pop();
  }
}

/**
 * fn(inputs) without its activations kept for backward (see the file's comment). `fn` returns
 * a tensor or a list of tensors. Without gradients (noGrad) or when neither an input nor a
 * leaf fn uses requires grad, it is fn(inputs) as is.
 */
export function checkpoint<T extends Tensor | Tensor[]>(fn: (inputs: Tensor[]) => T, inputs: readonly Tensor[]): T {
  if (typeof fn !== 'function') throw new HnfnetError('checkpoint(fn, inputs): fn must be a function');
  if (!isGradEnabled()) return fn([...inputs]);
  const carry = new Carry();
  const leaves = new Set<Tensor>();
  const mark = nextTensorId();
  const views = inputs.map((x) => x.detach());
  const watch = (ts: readonly Tensor[]): void => {
    for (const t of ts) {
      if (!t.requiresGrad || t.id >= mark) continue;
      if (t.gradFn) throw new HnfnetError(`checkpoint(): fn uses ${t}, the result of another op that requires grad, without taking it as an input (pass it in inputs, or gradients would not reach it)`);
      leaves.add(t);
    }
  };
  let result: T;
  try {
    result = noGrad(() => withCarry(carry, () => watchOpInputs(watch, () => tidy(() => fn(views)))));
  } catch (e) {
    for (const t of [...views, ...carry.all()]) t.dispose();
    throw e;
  }
  const single = !Array.isArray(result);
  const made = single ? [result as Tensor] : (result as Tensor[]);
  // An output that existed before (an input, a parameter, a buffer) is handed out as a view:
  // the node must not take over another tensor's place in the graph.
  const outs = made.map((o, i) => (o.id < mark || views.includes(o) || made.indexOf(o) !== i ? o.detach() : o));
  for (const v of views) v.dispose();
  const params = [...leaves];
  const needs = inputs.map((x) => x.requiresGrad);
  const count = outs.length;
  if ((!needs.some(Boolean) && !params.length) || !count) {
    for (const t of carry.all()) t.dispose();
    return (single ? outs[0] : outs) as T;
  }
  attachGrad('checkpoint', [...inputs, ...params], outs, inputs, (grads, saved) => {
    const xs = saved.slice(0, needs.length).map((s, i) => s.detach().requireGrad(needs[i]!));
    carry.phase = 'recompute';
    carry.rewind();
    tidy(() => {
      const again: Tensor | Tensor[] = enableGrad(() => withCarry(carry, () => fn(xs)));
      const list = Array.isArray(again) ? again : [again];
      if (list.length !== count) throw new HnfnetError(`checkpoint(): the recompute returned ${list.length} outputs, the first pass ${count}`);
      backwardFrom(list, grads.map((g) => g.detach()));
    });
    const gx = xs.map((x) => x.grad);
    for (const x of xs) {
      x.grad = null;
      x.dispose();
    }
    return [...gx, ...params.map(() => null)];
  });
  // Carried-over state lives as long as the node's saved inputs (freed after backward or with the graph).
  const node = outs[0]!.gradFn!;
  node.saved.push(...carry.all());
  return (single ? outs[0] : outs) as T;
}
