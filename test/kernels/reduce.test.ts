import { beforeAll, describe, expect, it } from 'vitest';
import { Generator, mean, ShapeError, sum, tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray, randShape, unravel } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

function hostSum(x: Float32Array, shape: number[], axes: number[]): Float64Array {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = outShape.reduce((p, d) => p * d, 1);
  const r = new Float64Array(n);
  for (let i = 0; i < x.length; i++) {
    const idx = unravel(i, shape).map((v, d) => (axes.includes(d) ? 0 : v));
    let k = 0;
    for (let d = 0; d < shape.length; d++) k = k * outShape[d]! + idx[d]!;
    r[k]! += x[i]!;
  }
  return r;
}

describe('sum and mean', () => {
  it('random shapes and axis sets, keepdim or not', async () => {
    const g = new Generator(3);
    for (let trial = 0; trial < 8; trial++) {
      const shape = randShape(g, 1 + (trial % 5), 6);
      const axes = shape.map((_, i) => i).filter(() => g.uniform() < 0.5);
      const x = randArray(shape.reduce((p, d) => p * d, 1), trial);
      const t = tensor(x, shape);
      const keep = trial % 2 === 0;
      const y = sum(t, axes.length ? axes : undefined, { keepdim: keep });
      const ax = axes.length ? axes : shape.map((_, i) => i);
      const want = hostSum(x, shape, ax);
      expect(y.shape).toEqual(keep ? shape.map((d, i) => (ax.includes(i) ? 1 : d)) : shape.filter((_, i) => !ax.includes(i)));
      expectClose(await y.data(), want, 1e-5, 1e-5, `sum ${shape} over ${ax}`);
      const m = mean(t, ax);
      const count = ax.reduce((p, a) => p * shape[a]!, 1);
      expectClose(await m.data(), want.map((v) => v / count), 1e-5, 1e-6, 'mean');
      [t, y, m].forEach((v) => v.dispose());
    }
  });

  it('large reductions take several passes and stay accurate', async () => {
    const n = 1 << 20;
    const x = randArray(n, 9, 0, 1);
    const t = tensor(x, [n]);
    const y = sum(t);
    const want = x.reduce((a, v) => a + v, 0);
    expectClose(await y.data(), [want], 1e-5, 0, 'sum of 2^20');
    const t2 = tensor(x, [4, 512, 512]);
    const y2 = sum(t2, [1, 2]);
    expectClose(await y2.data(), hostSum(x, [4, 512, 512], [1, 2]), 1e-5, 0, 'per-batch');
    [t, y, t2, y2].forEach((v) => v.dispose());
  });

  it('gradients match finite differences', async () => {
    await gradCheck(([a]) => sum(a!, [0, 2]), [{ data: randArray(60, 1), shape: [3, 4, 5] }]);
    await gradCheck(([a]) => mean(a!, 1, { keepdim: true }), [{ data: randArray(60, 2), shape: [3, 4, 5] }]);
    await gradCheck(([a]) => sum(a!), [{ data: randArray(7, 3), shape: [7] }]);
  });

  it('a bad axis is an error', () => {
    const t = tensor([1, 2, 3], [3]);
    expect(() => sum(t, 2)).toThrow(ShapeError);
    expect(() => sum(t, 2)).toThrow(/axis 2 out of range for rank 1/);
  });
});
