import { beforeAll, describe, expect, it } from 'vitest';
import { bmm, cat, matmul, ShapeError, slice, softmax, tensor } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray, unravel } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

describe('softmax', () => {
  it('matches the host reference on every axis', async () => {
    const shape = [2, 3, 4, 5];
    const x = randArray(120, 4, -5, 5);
    for (let ax = 0; ax < 4; ax++) {
      const t = tensor(x, shape);
      const y = softmax(t, ax);
      const want = new Float64Array(120);
      for (let i = 0; i < 120; i++) {
        const idx = unravel(i, shape);
        let m = -Infinity;
        const vals: number[] = [];
        for (let r = 0; r < shape[ax]!; r++) {
          const j = [...idx];
          j[ax] = r;
          let k = 0;
          for (let d = 0; d < 4; d++) k = k * shape[d]! + j[d]!;
          vals.push(x[k]!);
          m = Math.max(m, x[k]!);
        }
        const s = vals.reduce((a, v) => a + Math.exp(v - m), 0);
        want[i] = Math.exp(x[i]! - m) / s;
      }
      expectClose(await y.data(), want, 1e-5, 1e-7, `softmax axis ${ax}`);
      t.dispose();
      y.dispose();
    }
    await gradCheck(([a]) => softmax(a!, 1), [{ data: x, shape }], { eps: 1e-3 });
  });

  it('is stable for large logits', async () => {
    const y = softmax(tensor([1000, 1001, -1000], [3]));
    expectClose(await y.data(), [0.26894142, 0.73105858, 0], 1e-5, 1e-7);
  });
});

function hostBmm(a: Float32Array, b: Float32Array, B: number, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(B * M * N);
  for (let z = 0; z < B; z++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[(z * M + i) * K + k]! * b[(z * K + k) * N + j]!;
    c[(z * M + i) * N + j] = s;
  }
  return c;
}

describe('bmm / matmul', () => {
  it('odd sizes across tile edges, forward and gradients', async () => {
    for (const [B, M, K, N] of [[1, 1, 1, 1], [2, 5, 3, 7], [3, 33, 17, 9], [1, 70, 64, 65]] as const) {
      const a = randArray(B * M * K, M);
      const b = randArray(B * K * N, N);
      const ta = tensor(a, [B, M, K]);
      const tb = tensor(b, [B, K, N]);
      const c = bmm(ta, tb);
      expectClose(await c.data(), hostBmm(a, b, B, M, K, N), 1e-4, 1e-5, `bmm ${B}x${M}x${K}x${N}`);
      [ta, tb, c].forEach((t) => t.dispose());
    }
    await gradCheck(([p, q]) => bmm(p!, q!), [{ data: randArray(2 * 5 * 3, 1), shape: [2, 5, 3] }, { data: randArray(2 * 3 * 6, 2), shape: [2, 3, 6] }], { eps: 1e-2 });
    await gradCheck(([p, q]) => matmul(p!, q!), [{ data: randArray(4 * 3, 3), shape: [4, 3] }, { data: randArray(3 * 5, 4), shape: [3, 5] }], { eps: 1e-2 });
  });

  it('mismatched inner dimensions are an error naming the shapes', () => {
    const a = tensor(new Float32Array(6), [1, 2, 3]);
    const b = tensor(new Float32Array(8), [1, 4, 2]);
    expect(() => bmm(a, b)).toThrow(ShapeError);
    expect(() => bmm(a, b)).toThrow(/\[1, 2, 3\] and \[1, 4, 2\]/);
  });
});

describe('cat and slice', () => {
  it('cat along each axis and slice back', async () => {
    const x0 = randArray(2 * 3 * 4, 1);
    const x1 = randArray(2 * 3 * 4, 2);
    for (let ax = 0; ax < 3; ax++) {
      const t0 = tensor(x0, [2, 3, 4]);
      const t1 = tensor(x1, [2, 3, 4]);
      const y = cat([t0, t1], ax);
      expect(y.shape[ax]).toBe([2, 3, 4][ax]! * 2);
      const back0 = slice(y, ax, 0, [2, 3, 4][ax]!);
      const back1 = slice(y, ax, [2, 3, 4][ax]!, 2 * [2, 3, 4][ax]!);
      expectClose(await back0.data(), x0, 0, 0, 'slice 0');
      expectClose(await back1.data(), x1, 0, 0, 'slice 1');
      [t0, t1, y, back0, back1].forEach((t) => t.dispose());
    }
  });

  it('gradients of cat (different widths) and slice', async () => {
    await gradCheck(([a, b, c]) => cat([a!, b!, c!], 1), [
      { data: randArray(2 * 1 * 3, 1), shape: [2, 1, 3] },
      { data: randArray(2 * 4 * 3, 2), shape: [2, 4, 3] },
      { data: randArray(2 * 2 * 3, 3), shape: [2, 2, 3] },
    ]);
    await gradCheck(([a]) => slice(a!, 2, 1, 4), [{ data: randArray(2 * 3 * 5, 4), shape: [2, 3, 5] }]);
  });

  it('shape errors name the shapes', () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(8), [2, 4]);
    expect(() => cat([a, b], 0)).toThrow(/cat: shapes \[2, 3\], \[2, 4\] differ outside axis 0/);
    expect(() => slice(a, 1, 4, 5)).toThrow(ShapeError);
    expect(() => slice(a, 1, 4, 5)).toThrow(/range \[4, 5\) is outside axis 1 of \[2, 3\]/);
  });
});
