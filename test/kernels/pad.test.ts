import { beforeAll, describe, expect, it } from 'vitest';
import { backward, crop, pad, ShapeError, tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray, unravel } from './../helpers.js';

/** y[o] = x[o − before] inside x, else value: per-axis pairs over every axis. */
function refPad(x: ArrayLike<number>, shape: number[], pads: [number, number][], value: number): { y: Float32Array; shape: number[] } {
  const out = shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
  const n = out.reduce((a, d) => a * d, 1);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const c = unravel(i, out).map((v, k) => v - pads[k]![0]);
    y[i] = c.every((v, k) => v >= 0 && v < shape[k]!) ? x[c.reduce((a, v, k) => a + v * strides[k]!, 0)]! : value;
  }
  return { y, shape: out };
}

async function check(shape: number[], run: (x: ReturnType<typeof tensor>) => ReturnType<typeof tensor>, perAxis: [number, number][], value: number, seed: number): Promise<void> {
  const n = shape.reduce((a, d) => a * d, 1);
  const xd = randArray(n, seed);
  const x = tensor(xd, shape, { requiresGrad: true });
  const y = run(x);
  const ref = refPad(xd, shape, perAxis, value);
  expect(y.shape).toEqual(ref.shape);
  expectClose(await y.data(), ref.y, 0, 0, 'y');
  const gd = randArray(y.size, seed + 1);
  const g = tensor(gd, y.shape);
  backward(y, g);
  // The gradient reads g where x landed: the reverse pad, with zeros where x was cropped away.
  const back = refPad(gd, ref.shape, perAxis.map(([b, a]) => [-b, -a]), 0);
  expectClose(await x.grad!.data(), back.y, 0, 0, 'dx');
  x.zeroGrad();
  [x, y, g].forEach((t) => t.dispose());
}

beforeAll(async () => {
  await getDevice();
});

describe('pad', () => {
  const shape = [2, 3, 3, 4, 5];
  it('pads the last axes F.pad-style (flat list from the last axis), forward and backward', async () => {
    await check(shape, (x) => pad(x, [1, 2, 0, 1, 3, 0]), [[0, 0], [0, 0], [3, 0], [0, 1], [1, 2]], 0, 1);
    await check(shape, (x) => pad(x, [2, 1]), [[0, 0], [0, 0], [0, 0], [0, 0], [2, 1]], 0, 2);
  });
  it('takes per-axis [before, after] pairs and a fill value', async () => {
    await check(shape, (x) => pad(x, [[1, 1], [0, 2], [2, 0]], -7.5), [[0, 0], [0, 0], [1, 1], [0, 2], [2, 0]], -7.5, 3);
  });
  it('crops with negative amounts and mixes cropping with padding', async () => {
    await check(shape, (x) => pad(x, [-1, -2, 1, -1, -1, 2]), [[0, 0], [0, 0], [-1, 2], [1, -1], [-1, -2]], 0, 4);
    await check([1, 2, 4, 3, 1], (x) => pad(x, [[0, 0], [1, -3], [2, 2], [-1, 1]]), [[0, 0], [0, 0], [1, -3], [2, 2], [-1, 1]], 0, 5);
  });
  it('pads the batch and channel axes too', async () => {
    await check(shape, (x) => pad(x, [0, 0, 0, 0, 0, 0, 1, 0, 0, 1]), [[0, 1], [1, 0], [0, 0], [0, 0], [0, 0]], 0, 6);
  });
  it('agrees with finite differences', async () => {
    await gradCheck(([x]) => pad(x!, [1, 0, -1, 1, 0, 2]), [{ data: randArray(2 * 2 * 3 * 2 * 3, 7), shape: [2, 2, 3, 2, 3] }]);
  });
  it('rejects bad pads with errors that name the shape', () => {
    const x = tensor(new Float32Array(8), [1, 1, 2, 2, 2]);
    expect(() => pad(x, [1, 2, 3])).toThrow(ShapeError);
    expect(() => pad(x, [1, 2, 3])).toThrow(/pads \[1, 2, 3\].*\[1, 1, 2, 2, 2\]/);
    expect(() => pad(x, new Array<number>(12).fill(0))).toThrow(/at most 5 axes/);
    expect(() => pad(x, [-2, -1])).toThrow(/negative size \[1, 1, 2, 2, -1\]/);
    expect(() => pad(x, [0.5, 0])).toThrow(/integers/);
    x.dispose();
  });
});

describe('crop', () => {
  const shape = [2, 3, 5, 4, 6];
  it('takes a spatial window, forward and backward (the gradient is zero outside it)', async () => {
    await check(shape, (x) => crop(x, [1, 0, 2], [3, 4, 3]), [[0, 0], [0, 0], [-1, -1], [0, 0], [-2, -1]], 0, 10);
    await check(shape, (x) => crop(x, [4, 3, 5], [1, 1, 1]), [[0, 0], [0, 0], [-4, 0], [-3, 0], [-5, 0]], 0, 11);
  });
  it('crops the trailing axes given (two here)', async () => {
    await check(shape, (x) => crop(x, [1, 2], [2, 3]), [[0, 0], [0, 0], [0, 0], [-1, -1], [-2, -1]], 0, 12);
  });
  it('is the inverse of pad', async () => {
    const xd = randArray(2 * 3 * 5 * 4 * 6, 13);
    const x = tensor(xd, shape);
    const p = pad(x, [[2, 1], [1, 3], [0, 2]]);
    const c = crop(p, [2, 1, 0], [5, 4, 6]);
    expectClose(await c.data(), xd, 0, 0);
    [x, p, c].forEach((t) => t.dispose());
  });
  it('agrees with finite differences', async () => {
    await gradCheck(([x]) => crop(x!, [1, 0, 1], [2, 2, 1]), [{ data: randArray(2 * 2 * 3 * 2 * 3, 14), shape: [2, 2, 3, 2, 3] }]);
  });
  it('rejects windows outside the input with errors that name the shapes', () => {
    const x = tensor(new Float32Array(24), [1, 1, 2, 3, 4]);
    expect(() => crop(x, [0, 0, 1], [2, 3, 4])).toThrow(ShapeError);
    expect(() => crop(x, [0, 0, 1], [2, 3, 4])).toThrow(/start \[0, 0, 1\] size \[2, 3, 4\] does not fit inside input \[1, 1, 2, 3, 4\]/);
    expect(() => crop(x, [0, 0, 0], [2, 3])).toThrow(/same length/);
    expect(() => crop(x, [-1, 0, 0], [1, 1, 1])).toThrow(ShapeError);
    x.dispose();
  });
});
