import { beforeAll, describe, expect, it } from 'vitest';
import { backward, flip, ShapeError, tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray, unravel } from './../helpers.js';

function refFlip(x: ArrayLike<number>, shape: number[], axes: number[]): Float32Array {
  const y = new Float32Array(x.length);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
  for (let i = 0; i < x.length; i++) {
    const c = unravel(i, shape);
    const src = c.reduce((a, v, k) => a + (axes.includes(k) ? shape[k]! - 1 - v : v) * strides[k]!, 0);
    y[i] = x[src]!;
  }
  return y;
}

beforeAll(async () => {
  await getDevice();
});

describe('flip', () => {
  const shape = [2, 3, 3, 4, 5];
  const cases: [string, number | number[], number[]][] = [
    ['W', 4, [4]],
    ['D and W', [2, 4], [2, 4]],
    ['D, H and W (adjacent axes merge)', [2, 3, 4], [2, 3, 4]],
    ['negative axes', [-1, -3], [4, 2]],
    ['batch and channel', [0, 1], [0, 1]],
    ['nothing', [], []],
  ];
  for (const [what, axes, norm] of cases) {
    it(`reverses ${what}, and its gradient is the same flip of g`, async () => {
      const xd = randArray(360, 1);
      const gd = randArray(360, 2);
      const x = tensor(xd, shape, { requiresGrad: true });
      const y = flip(x, axes);
      expectClose(await y.data(), refFlip(xd, shape, norm), 0, 0, 'y');
      const g = tensor(gd, shape);
      backward(y, g);
      expectClose(await x.grad!.data(), refFlip(gd, shape, norm), 0, 0, 'dx');
      x.zeroGrad();
      [x, y, g].forEach((t) => t.dispose());
    });
  }

  it('handles size-1 axes and flipping them', async () => {
    const s = [1, 2, 1, 3, 1];
    const xd = randArray(6, 3);
    const x = tensor(xd, s);
    const y = flip(x, [0, 2, 3, 4]);
    expectClose(await y.data(), refFlip(xd, s, [0, 2, 3, 4]), 0, 0);
    [x, y].forEach((t) => t.dispose());
  });

  it('agrees with finite differences', async () => {
    await gradCheck(([x]) => flip(x!, [2, 4]), [{ data: randArray(2 * 2 * 3 * 2 * 3, 4), shape: [2, 2, 3, 2, 3] }]);
  });

  it('rejects axes out of range with an error naming them', () => {
    const x = tensor(new Float32Array(8), [2, 2, 2]);
    expect(() => flip(x, 3)).toThrow(ShapeError);
    expect(() => flip(x, [0, -4])).toThrow(/axis -4 out of range for rank 3/);
    x.dispose();
  });
});
