import { beforeAll, describe, expect, it } from 'vitest';
import { adamStep, AdamState, backward, HnfnetError, mul, ShapeError, sum, tensor, tidy, type AdamOptions } from '../../src/index.js';
import { expectClose, getDevice, randArray } from '../helpers.js';

beforeAll(async () => {
  await getDevice();
});

/** torch.optim.Adam's update in float64, from the formula. */
class HostAdam {
  m: Float64Array;
  v: Float64Array;
  t = 0;
  p: Float64Array;
  constructor(p: Float32Array) {
    this.p = Float64Array.from(p);
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(g: Float32Array, o: Required<AdamOptions>): void {
    const [b1, b2] = o.betas;
    this.t++;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = 1 - b2 ** this.t;
    for (let i = 0; i < g.length; i++) {
      const gi = g[i]! + o.weightDecay * this.p[i]!;
      this.m[i] = b1 * this.m[i]! + (1 - b1) * gi;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * gi * gi;
      this.p[i]! -= (o.lr * (this.m[i]! / bc1)) / (Math.sqrt(this.v[i]! / bc2) + o.eps);
    }
  }
}

const opts: Required<AdamOptions> = { lr: 1e-2, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 1e-2 };

describe('adamStep', () => {
  it('matches the host formula over several steps (scalar and vec4 paths, size-1 dims)', async () => {
    const shapes = [[17], [3, 5, 1], [4, 8], [1], [2, 1, 3, 3, 3]];
    const params = shapes.map((s, i) => tensor(randArray(s.reduce((a, b) => a * b, 1), 100 + i), s, { requiresGrad: true }));
    const hosts = await Promise.all(params.map(async (p) => new HostAdam(await p.data())));
    const state = new AdamState();
    for (let step = 0; step < 5; step++) {
      const grads = params.map((p, i) => tensor(randArray(p.size, 200 + 10 * step + i, -2, 2), p.shape));
      const o = { ...opts, lr: opts.lr * (1 - step / 10) };
      adamStep(params, grads, state, o);
      for (const [i, g] of grads.entries()) hosts[i]!.step(await g.data(), o);
      grads.forEach((g) => g.dispose());
    }
    for (const [i, p] of params.entries()) {
      const h = hosts[i]!;
      const st = state.get(p)!;
      expect(st.step).toBe(5);
      expectClose(await p.data(), h.p, 1e-5, 1e-6, `param ${i}`);
      expectClose(await st.expAvg.data(), h.m, 1e-5, 1e-6, `exp_avg ${i}`);
      expectClose(await st.expAvgSq.data(), h.v, 1e-4, 1e-8, `exp_avg_sq ${i}`);
      expect(p.gradFn).toBeNull();
    }
    state.dispose();
    params.forEach((p) => p.dispose());
  });

  it('skips parameters without a gradient, as PyTorch does', async () => {
    const a = tensor(randArray(6, 1), [6]);
    const b = tensor(randArray(5, 2), [5]);
    const before = await b.data();
    const state = new AdamState();
    const g = tensor(randArray(6, 3), [6]);
    adamStep([a, b], [g, null], state);
    adamStep([a, b], [g, undefined], state);
    expect(state.get(a)!.step).toBe(2);
    expect(state.get(b)).toBeUndefined();
    expectClose(await b.data(), before, 0, 0);
    state.dispose();
    for (const t of [a, b, g]) t.dispose();
  });

  it('uses gradients from backward, stays off the tape, and its state survives tidy()', async () => {
    const w = tensor(randArray(12, 4), [3, 4], { requiresGrad: true });
    const x = tensor(randArray(12, 5), [3, 4]);
    const host = new HostAdam(await w.data());
    const state = new AdamState();
    for (let s = 0; s < 3; s++) {
      tidy(() => {
        const loss = sum(mul(w, x));
        backward(loss);
      });
      host.step(await x.data(), { ...opts });
      tidy(() => adamStep([w], [w.grad], state, opts));
      w.zeroGrad();
      expect(w.gradFn).toBeNull();
      expect(w.requiresGrad).toBe(true);
    }
    expectClose(await w.data(), host.p, 1e-5, 1e-6);
    expect(state.get(w)!.expAvg.isDisposed).toBe(false);
    state.dispose();
    w.dispose();
    x.dispose();
  });

  it('reads and restores its state (checkpoints) and continues as if uninterrupted', async () => {
    const p0 = randArray(9, 6);
    const grads = [0, 1, 2, 3].map((i) => randArray(9, 300 + i));
    const run = async (split: boolean) => {
      const p = tensor(p0, [9]);
      let state = new AdamState();
      for (const [i, gv] of grads.entries()) {
        if (split && i === 2) {
          const snap = (await state.read(p))!;
          expect(snap.step).toBe(2);
          state.dispose();
          state = new AdamState();
          expect(await state.read(p)).toBeNull();
          state.load(p, snap);
        }
        const g = tensor(gv, [9]);
        adamStep([p], [g], state, opts);
        g.dispose();
      }
      const out = await p.data();
      const snap = (await state.read(p))!;
      state.dispose();
      p.dispose();
      return { out, snap };
    };
    const a = await run(false);
    const b = await run(true);
    expectClose(b.out, a.out, 0, 0, 'param');
    expectClose(b.snap.expAvgSq, a.snap.expAvgSq, 0, 0, 'exp_avg_sq');
    expect(b.snap.step).toBe(4);
  });

  it('rejects bad gradients, options and state', () => {
    const p = tensor(new Float32Array(6), [2, 3]);
    const g = tensor(new Float32Array(5), [5]);
    const state = new AdamState();
    expect(() => adamStep([p], [g], state)).toThrow(ShapeError);
    expect(() => adamStep([p], [g], state)).toThrow(/gradient \[5\] does not match parameter \[2, 3\]/);
    expect(() => adamStep([p], [], state)).toThrow(/1 parameters but 0 gradients/);
    const g6 = tensor(new Float32Array(6), [2, 3]);
    expect(() => adamStep([p], [g6], state, { lr: -1 })).toThrow(/invalid learning rate/);
    expect(() => adamStep([p], [g6], state, { betas: [0.9, 1] })).toThrow(/invalid beta parameter at index 1/);
    expect(() => adamStep([p, p], [g6, g6], state)).toThrow(HnfnetError);
    const leaf = tensor(new Float32Array(6), [2, 3], { requiresGrad: true });
    const nonLeaf = mul(leaf, leaf);
    expect(() => adamStep([nonLeaf], [g6], state)).toThrow(/not a leaf/);
    expect(state.get(nonLeaf)).toBeUndefined();
    leaf.dispose();
    nonLeaf.dispose();
    expect(() => state.load(p, { step: 1, expAvg: new Float32Array(5), expAvgSq: new Float32Array(5) })).toThrow(ShapeError);
    state.dispose();
    for (const t of [p, g, g6]) t.dispose();
  });
});
