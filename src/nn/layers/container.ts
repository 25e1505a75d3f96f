import type { Tensor } from '../../tensor/tensor.js';
import { Module } from '../module.js';
import { ArgumentError } from '../../tensor/errors.js';

/** Children run in order; each call's intermediate results are freed as soon as the next layer has consumed them. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }

  forward(x: Tensor): Tensor {
    let cur = x;
    for (const m of this.layers) {
      const next = m.call(cur);
      if (cur !== x) cur.dispose();
      cur = next;
    }
    return cur === x ? x.reshape(x.shape) : cur;
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
