import { beforeAll, describe, expect, it } from 'vitest';
import { emAttention, emaUpdateBases, HnfnetError, noGrad, ShapeError, tensor } from '../../src/index.js';
import { expectClose, getDevice, randArray } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

/** Bases as EMANet keeps them: L2-normalised over C. */
function randomBases(B: number, C: number, K: number, seed: number): Float32Array {
  const mu = randArray(B * C * K, seed);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += mu[(b * C + c) * K + k]! ** 2;
      for (let c = 0; c < C; c++) mu[(b * C + c) * K + k]! /= 1e-6 + Math.sqrt(s);
    }
  }
  return mu;
}

/** EMANet's EM unit in float64, written from the formula (no shared code with the kernels). */
function hostEM(x: Float32Array, mu0: Float32Array, N: number, C: number, V: number, K: number, muBatch: number, T: number) {
  const y = new Float64Array(N * C * V);
  const muOut = new Float64Array(N * C * K);
  for (let n = 0; n < N; n++) {
    let mu = Array.from({ length: C * K }, (_, i) => mu0[(muBatch === 1 ? 0 : n) * C * K + i]!);
    let z = new Float64Array(V * K);
    for (let t = 0; t < T; t++) {
      z = new Float64Array(V * K);
      for (let v = 0; v < V; v++) {
        const l = new Float64Array(K);
        for (let k = 0; k < K; k++) for (let c = 0; c < C; c++) l[k]! += x[(n * C + c) * V + v]! * mu[c * K + k]!;
        const m = Math.max(...l);
        let s = 0;
        for (let k = 0; k < K; k++) s += Math.exp(l[k]! - m);
        for (let k = 0; k < K; k++) z[v * K + k] = Math.exp(l[k]! - m) / s;
      }
      const colsum = new Float64Array(K);
      for (let v = 0; v < V; v++) for (let k = 0; k < K; k++) colsum[k]! += z[v * K + k]!;
      const next = new Array<number>(C * K).fill(0);
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < K; k++) {
          let a = 0;
          for (let v = 0; v < V; v++) a += x[(n * C + c) * V + v]! * (z[v * K + k]! / (1e-6 + colsum[k]!));
          next[c * K + k] = a;
        }
      }
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += next[c * K + k]! ** 2;
        for (let c = 0; c < C; c++) next[c * K + k]! /= 1e-6 + Math.sqrt(s);
      }
      mu = next;
    }
    for (let c = 0; c < C; c++) {
      for (let v = 0; v < V; v++) {
        let a = 0;
        for (let k = 0; k < K; k++) a += mu[c * K + k]! * z[v * K + k]!;
        y[(n * C + c) * V + v] = a;
      }
    }
    muOut.set(mu, n * C * K);
  }
  return { y, mu: muOut };
}

async function checkEM(N: number, C: number, spatial: number[], K: number, T: number, muBatch: number, seed: number, samplesPerPass?: number) {
  const V = spatial.reduce((a, b) => a * b, 1);
  const x = randArray(N * C * V, seed, -1.5, 1.5);
  const mu = randomBases(muBatch, C, K, seed + 1);
  const want = hostEM(x, mu, N, C, V, K, muBatch, T);
  const tx = tensor(x, [N, C, ...spatial]);
  const tmu = tensor(mu, [muBatch, C, K]);
  const r = emAttention(tx, tmu, { stages: T, ...(samplesPerPass ? { samplesPerPass } : {}) });
  expect(r.y.shape).toEqual([N, C, ...spatial]);
  expect(r.mu.shape).toEqual([N, C, K]);
  const what = `N=${N} C=${C} [${spatial}] K=${K} T=${T} mu batch ${muBatch}`;
  expectClose(await r.y.data(), want.y, 1e-3, 1e-4, `y ${what}`);
  expectClose(await r.mu.data(), want.mu, 1e-3, 1e-4, `mu ${what}`);
  for (const t of [tx, tmu, r.y, r.mu]) t.dispose();
}

describe('emAttention', () => {
  it('N=2, odd C, K=5, T=1 and 3, shared bases, size-1 dims', async () => {
    await checkEM(2, 5, [3, 1, 5], 5, 1, 1, 11);
    await checkEM(2, 5, [3, 1, 5], 5, 3, 1, 12);
  });

  it('per-sample bases [N, C, K], K and C not multiples of 4, single voxel and single channel', async () => {
    await checkEM(2, 7, [2, 3, 2], 6, 3, 2, 21);
    await checkEM(1, 1, [1, 1, 1], 3, 2, 1, 22);
    await checkEM(2, 3, [1, 1, 7], 1, 2, 1, 23);
  });

  it('V large enough for many M-step chunks, and in groups of samples', async () => {
    await checkEM(2, 9, [9, 11, 21], 5, 3, 1, 31);
    await checkEM(3, 6, [5, 7, 9], 7, 2, 3, 32, 1);
    await checkEM(3, 6, [5, 7, 9], 7, 2, 1, 33, 2);
  });

  it('vec4 path (V and K multiples of 4): odd C, shared and per-sample bases, many chunks, groups', async () => {
    await checkEM(2, 5, [2, 3, 2], 4, 3, 1, 61);
    await checkEM(2, 7, [8, 6, 10], 8, 2, 2, 62);
    await checkEM(3, 9, [4, 1, 9], 12, 3, 1, 63, 2);
  });

  it('gives outputs without gradient, even for inputs that require one', () => {
    const x = tensor(randArray(2 * 3 * 8, 5), [2, 3, 2, 2, 2], { requiresGrad: true });
    const mu = tensor(randomBases(1, 3, 4, 6), [1, 3, 4], { requiresGrad: true });
    const r = emAttention(x, mu, { stages: 2 });
    expect(r.y.requiresGrad).toBe(false);
    expect(r.mu.requiresGrad).toBe(false);
    expect(r.y.gradFn).toBeNull();
    for (const t of [x, mu, r.y, r.mu]) t.dispose();
  });

  it('names the shapes when they do not fit', () => {
    const x = tensor(randArray(2 * 3 * 4, 1), [2, 3, 2, 2, 1]);
    const bad = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    for (const shape of [[1, 4, 5], [3, 3, 5], [3, 5], [1, 3, 0]]) {
      const mu = bad(shape);
      expect(() => emAttention(x, mu)).toThrow(ShapeError);
      mu.dispose();
    }
    const mu = bad([1, 4, 5]);
    expect(() => emAttention(x, mu)).toThrow(/bases must be \[1, C, K\] or \[N, C, K\] with C = 3 and N = 2 from x \[2, 3, 2, 2, 1\], got \[1, 4, 5\]/);
    mu.dispose();
    const ok = bad([1, 3, 5]);
    expect(() => emAttention(x, ok, { stages: 0 })).toThrow(HnfnetError);
    const flat = bad([6]);
    expect(() => emAttention(flat, ok)).toThrow(/x must be \[N, C, \.\.\.spatial\]/);
    for (const t of [x, ok, flat]) t.dispose();
  });
});

function hostEMA(bases: Float32Array, batch: Float32Array, N: number, C: number, K: number, momentum: number, normalize: boolean): Float64Array {
  const out = new Float64Array(C * K);
  for (let i = 0; i < C * K; i++) {
    let m = 0;
    for (let n = 0; n < N; n++) m += batch[n * C * K + i]!;
    out[i] = momentum * bases[i]! + (1 - momentum) * (m / N);
  }
  if (normalize) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += out[c * K + k]! ** 2;
      for (let c = 0; c < C; c++) out[c * K + k]! /= 1e-6 + Math.sqrt(s);
    }
  }
  return out;
}

describe('emaUpdateBases', () => {
  it('moving average over the batch, L2-normalised, into a new tensor or in place', async () => {
    const [N, C, K] = [3, 5, 7];
    const b = randomBases(1, C, K, 41);
    const m = randomBases(N, C, K, 42);
    const tb = tensor(b, [1, C, K]);
    const tm = tensor(m, [N, C, K]);
    const fresh = emaUpdateBases(tb, tm);
    expectClose(await fresh.data(), hostEMA(b, m, N, C, K, 0.9, true), 1e-5, 1e-6, 'new tensor');
    expectClose(await tb.data(), b, 0, 0, 'bases untouched');
    const raw = emaUpdateBases(tb, tm, 0.7, { normalize: false });
    expectClose(await raw.data(), hostEMA(b, m, N, C, K, 0.7, false), 1e-5, 1e-6, 'without normalisation');
    const view = tb.view([C, K]);
    const same = emaUpdateBases(tb, tm, 0.5, { inPlace: true });
    expect(same).toBe(tb);
    const want = hostEMA(b, m, N, C, K, 0.5, true);
    expectClose(await tb.data(), want, 1e-5, 1e-6, 'in place');
    expectClose(await view.data(), want, 1e-5, 1e-6, 'a view sees the in-place update');
    for (const t of [tb, tm, fresh, raw, view]) t.dispose();
  });

  it('follows the bases produced by emAttention, without autograd', async () => {
    const x = tensor(randArray(2 * 4 * 27, 51), [2, 4, 3, 3, 3], { requiresGrad: true });
    const bases = tensor(randomBases(1, 4, 6, 52), [1, 4, 6]);
    const r = emAttention(x, bases);
    const nb = noGrad(() => emaUpdateBases(bases, r.mu));
    expect(nb.requiresGrad).toBe(false);
    const want = hostEMA(await bases.data(), await r.mu.data(), 2, 4, 6, 0.9, true);
    expectClose(await nb.data(), want, 1e-5, 1e-6);
    for (const t of [x, bases, r.y, r.mu, nb]) t.dispose();
  });

  it('rejects mismatched bases', () => {
    const b = tensor(new Float32Array(12), [1, 3, 4]);
    const m = tensor(new Float32Array(30), [2, 3, 5]);
    expect(() => emaUpdateBases(b, m)).toThrow(/expected bases \[1, C, K\] and batch bases \[N, C, K\], got \[1, 3, 4\] and \[2, 3, 5\]/);
    const m2 = tensor(new Float32Array(24), [2, 3, 4]);
    expect(() => emaUpdateBases(b, m2, 1.5)).toThrow(/momentum/);
    for (const t of [b, m, m2]) t.dispose();
  });
});
