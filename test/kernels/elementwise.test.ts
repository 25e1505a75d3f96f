import { beforeAll, describe, expect, it } from 'vitest';
import { add, binaryOps, div, Generator, maximum, mul, ShapeError, sub, tensor, unary, unaryOps, type UnaryOpName } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray, randShape, unravel } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

/** Inputs that keep each op inside its domain and away from kinks. */
function domain(name: string, a: Float32Array): Float32Array {
  if (name === 'log' || name === 'sqrt') return a.map((v) => 0.5 + Math.abs(v));
  if (name === 'relu' || name === 'leaky_relu' || name === 'abs') return a.map((v) => (Math.abs(v) < 0.05 ? v + 0.2 : v));
  return a;
}

describe('unary ops (one table: WGSL, host reference, gradient)', () => {
  for (const name of Object.keys(unaryOps) as UnaryOpName[]) {
    it(`${name}: forward matches the host reference, backward matches finite differences`, async () => {
      const shape = [2, 3, 1, 5];
      const x = domain(name, randArray(30, 11, -3, 3));
      const def = unaryOps[name];
      const p = 'param' in def ? (name === 'leaky_relu' ? 0.2 : 1.7) : 0;
      const t = tensor(x, shape);
      const y = unary(name, t, p);
      expectClose(await y.data(), x.map((v) => def.ref(v, p)), 1e-5, 1e-6, name);
      t.dispose();
      y.dispose();
      await gradCheck(([a]) => unary(name, a!, p), [{ data: x, shape }], { eps: 1e-3 });
    });
  }

  it('sigmoid does not overflow for large |x|', async () => {
    const y = unary('sigmoid', tensor([-200, -50, 0, 50, 200]));
    expectClose(await y.data(), [0, 1.9287e-22, 0.5, 1, 1], 1e-4, 1e-30);
  });
});

function hostBinary(op: (a: number, b: number) => number, a: Float32Array, as: number[], b: Float32Array, bs: number[], out: number[]): Float64Array {
  const n = out.reduce((p, d) => p * d, 1);
  const r = new Float64Array(n);
  const at = (data: Float32Array, shape: number[], idx: number[]) => {
    const off = idx.length - shape.length;
    let k = 0;
    for (let d = 0; d < shape.length; d++) k = k * shape[d]! + (shape[d] === 1 ? 0 : idx[d + off]!);
    return data[k]!;
  };
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, out);
    r[i] = op(at(a, as, idx), at(b, bs, idx));
  }
  return r;
}

describe('binary ops with broadcasting', () => {
  const g = new Generator(5);
  const fns = { add, sub, mul, div, maximum } as const;
  for (const name of Object.keys(fns) as (keyof typeof fns)[]) {
    it(`${name}: random broadcast shapes, forward and gradients`, async () => {
      for (let trial = 0; trial < 3; trial++) {
        const out = randShape(g, 1 + trial + (trial === 2 ? 2 : 0), 4);
        // b drops leading dims and turns some dims to 1; a turns others to 1.
        const bs = out.slice(trial).map((d) => (g.uniform() < 0.4 ? 1 : d));
        const as = out.map((d) => (g.uniform() < 0.25 ? 1 : d));
        const off = as.length - bs.length;
        const full = as.map((d, i) => (i < off ? d : Math.max(d, bs[i - off]!)));
        const na = as.reduce((p, d) => p * d, 1);
        const nb = bs.reduce((p, d) => p * d, 1);
        let a = randArray(na, 100 + trial, -2, 2);
        let b = randArray(nb, 200 + trial, -2, 2);
        if (name === 'div') b = b.map((v) => (v >= 0 ? v + 0.5 : v - 0.5));
        if (name === 'maximum') a = a.map((v, i) => v + (i % 2 ? 0.3 : -0.3));
        const ta = tensor(a, as);
        const tb = tensor(b, bs);
        const y = fns[name](ta, tb);
        expect(y.shape).toEqual(full);
        expectClose(await y.data(), hostBinary(binaryOps[name].ref, a, as, b, bs, full), 1e-5, 1e-6, `${name} ${as} ${bs}`);
        [ta, tb, y].forEach((t) => t.dispose());
        await gradCheck(([p, q]) => fns[name](p!, q!), [{ data: a, shape: as }, { data: b, shape: bs }], { eps: 1e-3, samples: 6 });
      }
    });
  }

  it('a shape mismatch names both shapes', () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(4), [4]);
    expect(() => add(a, b)).toThrow(ShapeError);
    expect(() => add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
  });
});

describe('unary ops propagate NaN as PyTorch does', () => {
  it('relu, leaky_relu, sigmoid, tanh and the rest of the table give NaN for NaN, and their host references agree', async () => {
    for (const name of Object.keys(unaryOps) as UnaryOpName[]) {
      const def = unaryOps[name];
      const p = 'param' in def ? def.param : 0;
      const y = unary(name, tensor([NaN, -1, 2]), p);
      const got = await y.data();
      y.dispose();
      expect(Number.isNaN(got[0]), `${name}(NaN) = ${got[0]}`).toBe(true);
      expect(Number.isNaN(def.ref(NaN, p)), `host ${name}(NaN)`).toBe(true);
    }
  });
});
