/**
 * Scopes (in the manner of tf.tidy): every tensor made inside `tidy(fn)` is disposed when
 * fn returns, except what fn returns and what was `keep()`-ed. Scopes only decide who
 * frees a buffer; they never change what a computation means.
 */
import { ArgumentError } from './errors.js';
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];

export function track<T extends Disposable>(t: T): T {
  stack[stack.length - 1]?.add(t);
  return t;
}

/** Takes a tensor out of every open scope, so no tidy() will dispose it. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Disposable>, depth = 0): void {
  if (value === null || value === undefined || depth > 4) return;
  if (typeof value !== 'object') return;
  const d = value as Partial<Disposable>;
  if (typeof d.dispose === 'function' && 'isDisposed' in d) {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, into, depth + 1);
}

export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ArgumentError('tidy(fn): fn must be a function');
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    // Refused: a scope cannot span an await. What fn made before its first await is freed now
    // (nothing would free it later), and the promise's own outcome is dropped, so a rejection
    // does not surface as an unhandled one.
    for (const t of scope) t.dispose();
    result.catch(() => {});
    throw new ArgumentError('tidy(fn): fn must be synchronous (it returned a Promise); await outside tidy');
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  const parent = stack[stack.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/**
 * `x` through `fns` in turn (`fns[n-1](…fns[0](x))`), each call in a scope nested in the next
 * one's: an intermediate result is freed as soon as the fn after it has returned, and what a
 * fn makes beside its result as soon as it has returned itself. So a chain of ops holds what
 * it would with a dispose() after each op, no more. `x` stays the caller's; tensors saved for
 * backward stay too (autograd keeps views of its own).
 */
export function pipe<T>(x: T, ...fns: readonly ((value: T) => T)[]): T {
  let run = (): T => x;
  for (const fn of fns) {
    const inner = run;
    run = () => tidy(() => fn(inner()));
  }
  return run();
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number {
  return stack.length;
}
