import { beforeAll, describe, expect, it } from 'vitest';
import { add, backward, bceWithLogits, generalizedDiceLoss, HnfnetError, ShapeError, sigmoid, tensor, type DiceWeightType, type LossReduction } from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

function binary(n: number, seed: number, pOne = 0.4): Float32Array {
  return randArray(n, seed, 0, 1).map((u) => (u < pOne ? 1 : 0));
}

// ---- BCE --------------------------------------------------------------------------------

function hostBCE(x: Float32Array, t: Float32Array) {
  const l = new Float64Array(x.length);
  const d = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    l[i] = Math.max(xi, 0) - xi * t[i]! + Math.log1p(Math.exp(-Math.abs(xi)));
    d[i] = 1 / (1 + Math.exp(-xi)) - t[i]!;
  }
  return { l, d, sum: l.reduce((a, b) => a + b, 0) };
}

describe('bceWithLogits', () => {
  it.each([
    ['scalar path', [2, 3, 1, 5, 7]],
    ['vec4 path', [2, 3, 2, 5, 2]],
  ])('mean, sum and none match the host reference, with their gradients (%s)', async (_, shape) => {
    const n = numel(shape);
    const x = randArray(n, 1, -6, 6);
    x[0] = 60;
    x[1] = -60;
    x[2] = 0;
    const t = randArray(n, 2, 0, 1);
    t[3] = 1;
    t[4] = 0;
    const ref = hostBCE(x, t);
    const up = randArray(n, 3);
    for (const reduction of ['mean', 'sum', 'none'] as LossReduction[]) {
      const tx = tensor(x, shape, { requiresGrad: true });
      const tt = tensor(t, shape);
      const y = bceWithLogits(tx, tt, { reduction });
      const scale = reduction === 'mean' ? 1 / n : 1;
      if (reduction === 'none') {
        expect(y.shape).toEqual(shape);
        expectClose(await y.data(), ref.l, 1e-5, 1e-6, 'none');
        const g = tensor(up, shape);
        backward(y, g);
        g.dispose();
        expectClose(await tx.grad!.data(), ref.d.map((d, i) => d * up[i]!), 1e-5, 1e-6, 'grad none');
      } else {
        expect(y.shape).toEqual([]);
        expectClose([await y.item()], [ref.sum * scale], 1e-5, 1e-6, reduction);
        const g = tensor([0.75], []);
        backward(y, g);
        g.dispose();
        expectClose(await tx.grad!.data(), ref.d.map((d) => 0.75 * d * scale), 1e-5, 1e-7, `grad ${reduction}`);
      }
      expect(tt.grad).toBeNull();
      tx.zeroGrad();
      for (const a of [tx, tt, y]) a.dispose();
    }
  });

  it.each([
    ['scalar path', [2, 3, 17, 19, 23]],
    ['vec4 path', [2, 3, 16, 17, 19]],
  ])('reduces large inputs in chunks (%s)', async (_, shape) => {
    const n = numel(shape);
    const x = randArray(n, 4, -4, 4);
    const t = binary(n, 5);
    const tx = tensor(x, shape);
    const tt = tensor(t, shape);
    const y = bceWithLogits(tx, tt);
    expectClose([await y.item()], [hostBCE(x, t).sum / n], 1e-5, 1e-6);
    for (const a of [tx, tt, y]) a.dispose();
  });

  it('passes the finite-difference check', async () => {
    const shape = [2, 3, 2, 1, 3];
    const n = numel(shape);
    const t = randArray(n, 6, 0, 1);
    const tt = tensor(t, shape);
    for (const reduction of ['mean', 'sum', 'none'] as LossReduction[]) {
      await gradCheck(([a]) => bceWithLogits(a!, tt, { reduction }), [{ data: randArray(n, 7, -3, 3), shape }], { eps: 1e-2, atol: 1e-4 });
    }
    tt.dispose();
  });

  it('rejects mismatched shapes and unknown reductions', () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(6), [3, 2]);
    expect(() => bceWithLogits(a, b)).toThrow(ShapeError);
    expect(() => bceWithLogits(a, b)).toThrow(/target \[3, 2\] must have the logits' shape \[2, 3\]/);
    expect(() => bceWithLogits(a, a, { reduction: 'max' as LossReduction })).toThrow(HnfnetError);
    a.dispose();
    b.dispose();
  });
});

// ---- generalized Dice ---------------------------------------------------------------------

/** MONAI GeneralizedDiceLoss(batch=False) in float64, and its gradient with w constant. */
function hostDice(p: Float32Array, r: Float32Array, N: number, C: number, M: number, smooth = 1e-5, wType: DiceWeightType = 'square') {
  const grad = new Float64Array(p.length);
  let total = 0;
  for (let n = 0; n < N; n++) {
    const I: number[] = [];
    const S: number[] = [];
    const w: number[] = [];
    for (let c = 0; c < C; c++) {
      let i = 0;
      let s = 0;
      let g = 0;
      for (let m = 0; m < M; m++) {
        const k = (n * C + c) * M + m;
        i += p[k]! * r[k]!;
        s += p[k]! + r[k]!;
        g += r[k]!;
      }
      I.push(i);
      S.push(s);
      w.push(wType === 'square' ? 1 / (g * g) : wType === 'simple' ? 1 / g : 1);
    }
    const finite = w.filter((v) => Number.isFinite(v));
    const wmax = finite.length ? Math.max(...finite) : 0;
    const wf = w.map((v) => (Number.isFinite(v) ? v : wmax));
    const A = 2 * wf.reduce((a, v, c) => a + v * I[c]!, 0) + smooth;
    const B = wf.reduce((a, v, c) => a + v * S[c]!, 0) + smooth;
    total += 1 - A / B;
    for (let c = 0; c < C; c++) {
      for (let m = 0; m < M; m++) {
        const k = (n * C + c) * M + m;
        grad[k] = (wf[c]! * (A - 2 * B * r[k]!)) / (B * B) / N;
      }
    }
  }
  return { y: total / N, grad };
}

/** Sample 0: channel 1 empty. Sample 1: every channel empty (all weights 0, loss 1 − s/(s + 0)). */
function diceTarget(N: number, C: number, M: number, seed: number): Float32Array {
  const r = binary(N * C * M, seed);
  for (let m = 0; m < M; m++) r[(0 * C + 1) * M + m] = 0;
  if (N > 1) for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) r[(1 * C + c) * M + m] = 0;
  return r;
}

describe('generalizedDiceLoss', () => {
  it.each([
    ['scalar path', [3, 3, 2, 1, 5]],
    ['vec4 path', [3, 3, 2, 2, 2]],
  ])('matches MONAI semantics with empty channels and an empty sample, forward and backward (%s)', async (_, shape) => {
    const [N, C] = shape as [number, number];
    const M = numel(shape.slice(2));
    const p = randArray(numel(shape), 8, 0.01, 0.99);
    const r = diceTarget(N, C, M, 9);
    for (const [smooth, wType] of [[1e-5, 'square'], [0.5, 'square'], [1e-5, 'simple'], [1, 'uniform']] as [number, DiceWeightType][]) {
      const tp = tensor(p, shape, { requiresGrad: true });
      const tr = tensor(r, shape);
      const y = generalizedDiceLoss(tp, tr, { smooth, wType });
      expect(y.shape).toEqual([]);
      const want = hostDice(p, r, N, C, M, smooth, wType);
      expectClose([await y.item()], [want.y], 1e-5, 1e-6, `loss smooth=${smooth} ${wType}`);
      const g = tensor([-0.6], []);
      backward(y, g);
      expectClose(await tp.grad!.data(), want.grad.map((v) => -0.6 * v), 1e-4, 1e-7, `grad smooth=${smooth} ${wType}`);
      tp.zeroGrad();
      for (const a of [tp, tr, y, g]) a.dispose();
    }
  });

  it('reduces 3-D volumes in chunks and gives the loss of a perfect prediction', async () => {
    const shape = [2, 3, 40, 41, 43];
    const [N, C] = shape as [number, number];
    const M = numel(shape.slice(2));
    const p = randArray(numel(shape), 10, 0, 1);
    const r = diceTarget(N, C, M, 11);
    const tp = tensor(p, shape);
    const tr = tensor(r, shape);
    const y = generalizedDiceLoss(tp, tr);
    expectClose([await y.item()], [hostDice(p, r, N, C, M).y], 1e-4, 1e-6);
    const perfect = generalizedDiceLoss(tr, tr);
    // Sample 0 matches exactly (loss ≈ 0); sample 1 has no foreground anywhere (loss 1 − s/s = 0).
    expectClose([await perfect.item()], [0], 0, 1e-5);
    for (const a of [tp, tr, y, perfect]) a.dispose();
  });

  it('passes the finite-difference check, composed with sigmoid and BCE as in training', async () => {
    const shape = [2, 3, 2, 3, 1];
    const [N, C] = shape as [number, number];
    const r = diceTarget(N, C, 6, 12);
    const tr = tensor(r, shape);
    await gradCheck(([a]) => generalizedDiceLoss(a!, tr), [{ data: randArray(numel(shape), 13, 0.05, 0.95), shape }], { eps: 1e-2, atol: 1e-4 });
    await gradCheck(([a]) => add(bceWithLogits(a!, tr), generalizedDiceLoss(sigmoid(a!), tr, { smooth: 1 })), [{ data: randArray(numel(shape), 14, -2, 2), shape }], {
      eps: 1e-2,
      atol: 1e-4,
    });
    tr.dispose();
  });

  it.each([
    ['scalar path', [2, 3, 3, 1, 3]],
    ['vec4 path', [2, 3, 2, 2, 3]],
  ])('fuses the sigmoid (MONAI sigmoid=True) exactly as sigmoid then the loss (%s)', async (_, shape) => {
    const [N, C] = shape as [number, number];
    const M = numel(shape.slice(2));
    const x = randArray(numel(shape), 15, -4, 4);
    const r = diceTarget(N, C, M, 16);
    const tr = tensor(r, shape);
    const a = tensor(x, shape, { requiresGrad: true });
    const b = tensor(x, shape, { requiresGrad: true });
    const fused = generalizedDiceLoss(a, tr, { sigmoid: true });
    const sb = sigmoid(b);
    const plain = generalizedDiceLoss(sb, tr);
    expectClose([await fused.item()], [await plain.item()], 1e-6, 1e-7, 'loss');
    backward(fused);
    backward(plain);
    expectClose(await a.grad!.data(), await b.grad!.data(), 1e-5, 1e-8, 'grad');
    const p = Float32Array.from(x, (v) => 1 / (1 + Math.exp(-v)));
    expectClose([await fused.item()], [hostDice(p, r, N, C, M).y], 1e-5, 1e-6, 'host');
    for (const t of [a, b, tr, fused, sb, plain]) {
      t.zeroGrad();
      t.dispose();
    }
    const tr2 = tensor(r, shape);
    await gradCheck(([v]) => generalizedDiceLoss(v!, tr2, { sigmoid: true }), [{ data: x, shape }], { eps: 1e-2, atol: 1e-4 });
    tr2.dispose();
  });

  it('rejects mismatched shapes, rank below 2 and unknown weight types', () => {
    const a = tensor(new Float32Array(24), [2, 3, 4]);
    const b = tensor(new Float32Array(24), [2, 4, 3]);
    const flat = tensor(new Float32Array(4), [4]);
    expect(() => generalizedDiceLoss(a, b)).toThrow(/target \[2, 4, 3\] must have the probabilities' shape \[2, 3, 4\]/);
    expect(() => generalizedDiceLoss(flat, flat)).toThrow(ShapeError);
    expect(() => generalizedDiceLoss(a, a, { wType: 'cubic' as DiceWeightType })).toThrow(HnfnetError);
    for (const t of [a, b, flat]) t.dispose();
  });
});
