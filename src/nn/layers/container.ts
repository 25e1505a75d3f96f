import type { Tensor } from '../../tensor/tensor.js';
import { Module } from '../module.js';
import { ArgumentError } from '../../tensor/errors.js';
import { pipe } from '../../tensor/scope.js';

/** Children run in order; each call's intermediate results are freed as soon as the next layer has consumed them. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    const y = pipe(x, ...this.layers.map((m) => (t: Tensor) => m.call(t)));
    return y === x ? x.reshape(x.shape) : y;
  }
}

/** A list of modules registered under "0", "1", …, called by the owner as it sees fit. */
export class ModuleList<M extends Module<never[], unknown>> extends Module<[], never> {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.registerModule(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new ArgumentError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }
  forward(): never {
    throw new ArgumentError('ModuleList is a container; call its items');
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x.reshape(x.shape);
  }
}
