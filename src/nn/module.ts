import { HnfnetError } from '../tensor/errors.js';
import type { Shape } from '../tensor/shape.js';
import { keep } from '../tensor/scope.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import type { DType } from '../tensor/dtype.js';

/** Receives every module call while a profile is active (see flops.ts). */
export interface CallObserver {
  enter(module: Module<unknown[], unknown>): void;
  exit(module: Module<unknown[], unknown>, inputs: readonly unknown[], output: unknown): void;
}

const observers: CallObserver[] = [];

export function observeCalls<T>(obs: CallObserver, fn: () => T): T {
  observers.push(obs);
  try {
    return fn();
  } finally {
    observers.splice(observers.indexOf(obs), 1);
  }
}

/**
 * A module in PyTorch's manner: parameters, buffers and child modules registered by
 * name, dotted state-dict names, train/eval modes. Subclasses implement `forward`; callers
 * use `call`, which also feeds profilers and FLOP counters.
 */
export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module<unknown[], unknown>>();

  abstract forward(...inputs: In): Out;

  /** Runs forward (use this rather than forward itself). */
  call(...inputs: In): Out {
    if (observers.length === 0) return this.forward(...inputs);
    const self = this as unknown as Module<unknown[], unknown>;
    for (const o of observers) o.enter(self);
    const out = this.forward(...inputs);
    for (const o of observers) o.exit(self, inputs, out);
    return out;
  }

  /**
   * Multiply-accumulates of this module's own work (not its children's) for the given
   * input and output shapes; leaf layers override it.
   */
  macs(_inputs: readonly Shape[], _output: Shape): number {
    return 0;
  }

  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t);
    t.requiresGrad = true;
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t);
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module<never[], unknown>>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m as unknown as Module<unknown[], unknown>);
    return m;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new HnfnetError(`invalid member name "${name}" (no dots, not empty)`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new HnfnetError(`${this.constructor.name}: "${name}" is registered twice`);
    }
  }

  /** The current tensor of a parameter (loading weights may replace it). */
  protected param(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new HnfnetError(`${this.constructor.name} has no parameter "${name}"`);
    return t;
  }

  /** Replaces a buffer's tensor (the old one is disposed), e.g. the EM bases' moving average. */
  setBuffer(name: string, t: Tensor): void {
    const old = this.buffers.get(name);
    if (!old) throw new HnfnetError(`${this.constructor.name} has no buffer "${name}"`);
    if (old !== t) old.dispose();
    this.buffers.set(name, keep(t));
  }

  getBuffer(name: string): Tensor {
    const b = this.buffers.get(name);
    if (!b) throw new HnfnetError(`${this.constructor.name} has no buffer "${name}"`);
    return b;
  }

  /** Replaces a parameter's values in place of its tensor (loading weights). */
  setParameter(name: string, t: Tensor): void {
    const old = this.params.get(name);
    if (!old) throw new HnfnetError(`${this.constructor.name} has no parameter "${name}"`);
    if (old !== t) old.dispose();
    keep(t);
    t.requiresGrad = true;
    this.params.set(name, t);
  }

  namedChildren(): [string, Module<unknown[], unknown>][] {
    return [...this.children];
  }

  namedModules(prefix = ''): [string, Module<unknown[], unknown>][] {
    const out: [string, Module<unknown[], unknown>][] = [[prefix, this as unknown as Module<unknown[], unknown>]];
    for (const [n, m] of this.children) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Parameters with PyTorch-style dotted names (`pmf3.branches.1.conv1.weight`). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix ? `${prefix}.${n}` : n, t]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.buffers) out.push([prefix ? `${prefix}.${n}` : n, t]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Number of trainable values. */
  parameterCount(): number {
    return this.parameters().reduce((a, t) => a + t.size, 0);
  }

  /** Parameters and buffers by name: what a checkpoint holds. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Resolves a dotted name to the module that owns it and the member's own name. */
  resolve(name: string): { owner: Module<unknown[], unknown>; member: string; kind: 'parameter' | 'buffer' } | null {
    const parts = name.split('.');
    let m: Module<unknown[], unknown> = this as unknown as Module<unknown[], unknown>;
    for (const p of parts.slice(0, -1)) {
      const c = m.children.get(p);
      if (!c) return null;
      m = c;
    }
    const member = parts[parts.length - 1]!;
    if (m.params.has(member)) return { owner: m, member, kind: 'parameter' };
    if (m.buffers.has(member)) return { owner: m, member, kind: 'buffer' };
    return null;
  }

  /**
   * Converts every parameter to `dtype` (a new tensor each; the old ones are freed). float16
   * is storage for inference: run the model under noGrad() with a float16 input (a forward
   * that records gradients is an error, since training keeps float32); the result is
   * float16. Buffers (the EM bases, running statistics) stay float32. Weights load as
   * float32: load first, then convert.
   */
  to(dtype: DType): this {
    for (const [, m] of this.namedModules()) {
      for (const [name, t] of m.params) {
        if (t.dtype === dtype) continue;
        const c = noGrad(() => t.to(dtype));
        c.name = t.name;
        t.zeroGrad();
        t.dispose();
        keep(c);
        // Still a parameter: with gradients on, a forward through it says training needs float32.
        c.requiresGrad = true;
        m.params.set(name, c);
      }
    }
    return this;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Frees every parameter, gradient and buffer of the tree. */
  dispose(): void {
    for (const [, t] of this.namedParameters()) {
      t.zeroGrad();
      t.dispose();
    }
    for (const [, t] of this.namedBuffers()) t.dispose();
  }
}
