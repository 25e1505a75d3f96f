/**
 * checkpoint(fn, inputs): the same outputs and gradients as the plain graph (inputs and the
 * parameters fn uses), through lists of outputs, inputs without gradients, nesting and
 * noGrad; finite differences through it; nothing left behind; and a state fn reads and
 * moves (carryOver / recomputing) moved once and seen alike by the recompute.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add,
  backward,
  bmm,
  carryOver,
  checkpoint,
  keep,
  mul,
  noGrad,
  randn,
  recomputing,
  relu,
  scale,
  sigmoid,
  softmax,
  sum,
  tensor,
  tidy,
  type Device,
  type Tensor,
} from '../../src/index.js';
import { expectClose, getDevice, gradCheck, randArray } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

/** A small composite with parameters w [1, 3, 1] and m [2, 4, 4]: two outputs. */
function makeParams(): { w: Tensor; m: Tensor } {
  return { w: randn([1, 3, 1], { seed: 3, requiresGrad: true }), m: randn([2, 4, 4], { seed: 4, requiresGrad: true }) };
}
function composite(p: { w: Tensor; m: Tensor }, [x, y]: Tensor[]): Tensor[] {
  const h = sigmoid(add(mul(x!, p.w), y!));
  const a = softmax(bmm(h, p.m), 2);
  return [relu(add(a, h)), mul(h, h)];
}

async function grads(ts: readonly Tensor[]): Promise<(Float32Array | null)[]> {
  return Promise.all(ts.map(async (t) => (t.grad ? await t.grad.data() : null)));
}

/** Σ out_i · weight_i for fixed random weights: a scalar every output contributes to. */
function objective(outs: readonly Tensor[]): Tensor {
  return outs.map((o, i) => sum(mul(o, tensor(randArray(o.size, 10 + i), [...o.shape])))).reduce((a, b) => add(a, b));
}

describe('checkpoint', () => {
  it('gives the plain graph’s outputs and gradients for inputs and parameters, and frees all it made', async () => {
    const p = makeParams();
    const x = randn([2, 3, 4], { seed: 1, requiresGrad: true });
    const y = randn([2, 3, 4], { seed: 2 }); // needs no gradient
    const run = async (ck: boolean) => {
      const outs = tidy(() => {
        const o = ck ? checkpoint((xs) => composite(p, xs), [x, y]) : composite(p, [x, y]);
        return { o, loss: objective(o) };
      });
      const values = await Promise.all(outs.o.map((t) => t.data()));
      backward(outs.loss);
      [...outs.o, outs.loss].forEach((t) => t.dispose());
      const g = await grads([x, y, p.w, p.m]);
      for (const t of [x, p.w, p.m]) t.zeroGrad();
      return { values, g };
    };
    await device.sync();
    const live0 = device.memoryStats().liveBytes;
    const plain = await run(false);
    const ck = await run(true);
    for (let i = 0; i < 2; i++) expectClose(ck.values[i]!, plain.values[i]!, 1e-6, 1e-7, `output ${i}`);
    expect(ck.g[1]).toBeNull();
    for (const i of [0, 2, 3]) expectClose(ck.g[i]!, plain.g[i]!, 1e-5, 1e-6, `gradient ${i}`);
    await device.sync();
    expect(device.memoryStats().liveBytes).toBe(live0);
    for (const t of [x, y, p.w, p.m]) t.dispose();
  });

  it('saves only its inputs: a long chain holds less at the loss than the plain graph', async () => {
    const x = randn([1, 1 << 16], { seed: 5, requiresGrad: true });
    const chain = ([t]: Tensor[]) => [Array.from({ length: 8 }, () => 0).reduce((a) => sigmoid(scale(a, 1.1)), t!)];
    const held = async (ck: boolean) => {
      await device.sync();
      const live0 = device.memoryStats().liveBytes;
      const loss = tidy(() => sum((ck ? checkpoint(chain, [x]) : chain([x]))[0]!));
      await device.sync();
      const live = device.memoryStats().liveBytes - live0;
      backward(loss);
      loss.dispose();
      const g = await x.grad!.data();
      x.zeroGrad();
      await device.sync();
      expect(device.memoryStats().liveBytes).toBe(live0);
      return { live, g };
    };
    const plain = await held(false);
    const ck = await held(true);
    // Plain: each sigmoid keeps its output (8 × 256 KiB); checkpointed: the input's view only.
    expect(plain.live).toBeGreaterThanOrEqual(8 * x.byteSize);
    expect(ck.live).toBeLessThan(2 * x.byteSize);
    expectClose(ck.g, plain.g, 1e-5, 1e-7);
    x.dispose();
  });

  it('agrees with finite differences', async () => {
    const p = makeParams();
    await gradCheck(
      (xs) => checkpoint((ins) => composite(p, ins)[0]!, xs),
      [
        { data: randArray(24, 1), shape: [2, 3, 4] },
        { data: randArray(24, 2), shape: [2, 3, 4] },
      ],
    );
    // The parameters' gradients too: a checkpoint whose only grad-requiring tensors are parameters.
    const x = randn([2, 3, 4], { seed: 1 });
    const y = randn([2, 3, 4], { seed: 2 });
    await gradCheck(
      ([w, m]) => checkpoint((ins) => composite({ w: w!, m: m! }, ins)[1]!, [x, y]),
      [
        { data: randArray(3, 3), shape: [1, 3, 1] },
        { data: randArray(32, 4), shape: [2, 4, 4] },
      ],
    );
    for (const t of [x, y, p.w, p.m]) t.dispose();
  });

  it('nests, runs plainly under noGrad, passes inputs through, and can run backward twice with retainGraph', async () => {
    const p = makeParams();
    const x = randn([2, 3, 4], { seed: 1, requiresGrad: true });
    const y = randn([2, 3, 4], { seed: 2, requiresGrad: true });
    const plainLoss = tidy(() => objective(composite(p, [x, y])));
    backward(plainLoss);
    const want = await grads([x, y, p.w, p.m]);
    for (const t of [x, y, p.w, p.m, plainLoss]) t.zeroGrad();
    // Inner checkpoints inside an outer one, and an output that is an input.
    const nested = tidy(() => {
      const [a, b, same] = checkpoint(([u, v]) => [...checkpoint((ins) => composite(p, ins), [u!, v!]), v!], [x, y]);
      expect(same).not.toBe(y);
      expect(same!.requiresGrad).toBe(true);
      return objective([a!, b!]);
    });
    backward(nested, undefined, { retainGraph: true });
    backward(nested);
    nested.dispose();
    const got = await grads([x, y, p.w, p.m]);
    want.forEach((w, i) => expectClose(got[i]!, Float32Array.from(w!, (v) => 2 * v), 1e-5, 1e-6, `gradient ${i}`));
    for (const t of [x, y, p.w, p.m]) t.zeroGrad();
    const off = noGrad(() => checkpoint((ins) => composite(p, ins), [x, y]));
    expect(off.every((t) => t.gradFn === null && !t.requiresGrad)).toBe(true);
    off.forEach((t) => t.dispose());
    for (const t of [x, y, p.w, p.m, plainLoss]) t.dispose();
  });

  it('refuses a captured tensor that has a graph but is not an input, leaving nothing behind', async () => {
    const x = randn([4], { seed: 1, requiresGrad: true });
    const hidden = mul(x, x);
    await device.sync();
    const live0 = device.memoryStats().liveBytes;
    expect(() => checkpoint(([t]) => add(t!, hidden), [x])).toThrow(/without taking it as an input/);
    await device.sync();
    expect(device.memoryStats().liveBytes).toBe(live0);
    [x, hidden].forEach((t) => t.dispose());
  });

  it('carryOver and recomputing: a state moved in the first pass is read as it was, and moved once', async () => {
    const state = { v: tensor([1, 2, 3, 4], [4]) };
    let moves = 0;
    // Reads the state, then moves it (state ← state + 1) unless recomputing.
    const fn = ([t]: Tensor[]): Tensor => {
      const s = carryOver(state, () => state.v);
      const out = mul(t!, s);
      if (!recomputing()) {
        const next = keep(noGrad(() => add(state.v, tensor([1, 1, 1, 1], [4]))));
        state.v.dispose();
        state.v = next;
        moves++;
      }
      return out;
    };
    const x = tensor([1, 1, 1, 1], [4], { requiresGrad: true });
    const loss = tidy(() => sum(mul(checkpoint(fn, [x]), tensor([1, 10, 100, 1000], [4]))));
    expect(moves).toBe(1);
    backward(loss);
    expect(moves).toBe(1);
    // d/dx Σ x·s·c with the state the first pass saw (1, 2, 3, 4), not the moved one.
    expect(Array.from(await x.grad!.data())).toEqual([1, 20, 300, 4000]);
    expect(Array.from(await state.v.data())).toEqual([2, 3, 4, 5]);
    [x, loss, state.v].forEach((t) => t.dispose());
  });
});
