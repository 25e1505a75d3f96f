/**
 * Every chunked path against the same op on a device without the small limit: one process
 * holds two devices, the second told that a storage binding holds 16 KiB, so tensors of a
 * few thousand elements split by sample, channel block or element range. Results must agree
 * to float rounding (and backward through them too).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add,
  backward,
  broadcastTo,
  cat,
  Device,
  LimitError,
  mul,
  relu,
  slice,
  sub,
  sigmoid,
  tensor,
  conv3d,
  instanceNorm3d,
  instanceNorm3dAdd,
  instanceNorm3dRelu,
  interpolate,
  globalAvgPool3d,
  bceWithLogits,
  generalizedDiceLoss,
  adamStep,
  AdamState,
  emAttention,
  type Tensor,
} from '../../src/index.js';
import { expectClose, randArray, unlimitedDevice } from '../helpers.js';

const LIMIT = 16 * 1024;
let wide: Device;
let narrow: Device;

beforeAll(async () => {
  wide = await unlimitedDevice();
  narrow = await Device.create({ limits: { maxStorageBufferBindingSize: LIMIT } });
});

interface Input {
  shape: number[];
  seed: number;
  grad?: boolean;
}

/**
 * Runs fn on both devices with the same inputs; with `grad`, also backward with a random
 * upstream gradient. Returns, per device, the output and every input gradient, and the
 * number of dispatches it took.
 */
async function onBoth(inputs: Input[], fn: (xs: Tensor[]) => Tensor, opts: { grad?: boolean } = {}): Promise<{ results: Float32Array[][]; dispatches: number[] }> {
  const out: Float32Array[][] = [];
  const dispatches: number[] = [];
  for (const device of [wide, narrow]) {
    const before = device.dispatches;
    const xs = inputs.map((x) => tensor(randArray(x.shape.reduce((a, b) => a * b, 1), x.seed), x.shape, { device, requiresGrad: opts.grad && x.grad !== false }));
    const y = fn(xs);
    const res = [await y.data()];
    if (opts.grad) {
      const g = tensor(randArray(y.size, 99), y.shape, { device });
      backward(y, g);
      for (const x of xs) res.push(x.grad ? await x.grad.data() : new Float32Array(0));
      g.dispose();
    }
    y.dispose();
    xs.forEach((x) => {
      x.zeroGrad();
      x.dispose();
    });
    out.push(res);
    dispatches.push(device.dispatches - before);
  }
  return { results: out, dispatches };
}

async function expectSame(inputs: Input[], fn: (xs: Tensor[]) => Tensor, opts: { grad?: boolean; rtol?: number; atol?: number } = {}): Promise<void> {
  const { results: [w, n], dispatches } = await onBoth(inputs, fn, opts);
  // The small limit must have taken another path (split dispatches, or encoder copies), not merely agreed.
  expect(dispatches[1], 'dispatches under the small limit').not.toBe(dispatches[0]);
  w!.forEach((want, i) => expectClose(n![i]!, want, opts.rtol ?? 1e-5, opts.atol ?? 1e-6, i === 0 ? 'output' : `gradient of input ${i - 1}`));
}

describe('limits override', () => {
  it('lowers what hnfnet binds, and only lowers', async () => {
    expect(narrow.limits.maxStorageBufferBindingSize).toBe(LIMIT);
    expect(narrow.limits.maxBufferSize).toBe(wide.limits.maxBufferSize);
    await expect(Device.create({ limits: { maxStorageBufferBindingSize: wide.limits.maxStorageBufferBindingSize * 2 } })).rejects.toThrow(LimitError);
    await expect(Device.create({ limits: { maxStorageBufferBindingSize: 1000 } })).rejects.toThrow(/multiple of minStorageBufferOffsetAlignment/);
  });

  it('tensors beyond one binding are allocated, written and read back', async () => {
    const v = randArray(3 * LIMIT, 1);
    const t = tensor(v, [3, LIMIT], { device: narrow });
    expectClose(await t.data(), v, 0, 0);
    t.dispose();
  });
});

describe('elementwise and broadcasting', () => {
  it('unary forward and backward over element ranges', async () => {
    await expectSame([{ shape: [3, 5000], seed: 1 }], ([x]) => sigmoid(relu(x!)), { grad: true });
  });

  it('same-shape binary ops', async () => {
    await expectSame([{ shape: [2, 7, 700], seed: 2 }, { shape: [2, 7, 700], seed: 3 }], ([a, b]) => mul(a!, b!), { grad: true });
  });

  it('per-channel and per-sample broadcasts (bias, SDE scale), aligned and unaligned planes', async () => {
    for (const [n, plane] of [[2, [8, 8, 8]], [4, [5, 6, 7]]] as const) {
      await expectSame([{ shape: [n, 6, ...plane], seed: 4 }, { shape: [1, 6, 1, 1, 1], seed: 5 }], ([a, b]) => add(a!, b!), { grad: true });
      await expectSame([{ shape: [n, 6, ...plane], seed: 6 }, { shape: [n, 6, 1, 1, 1], seed: 7 }], ([a, b]) => mul(a!, b!), { grad: true });
    }
  });

  it('a broadcast operand larger than a binding, and broadcastTo', async () => {
    await expectSame([{ shape: [6000], seed: 8 }, { shape: [3, 1], seed: 9 }], ([a, b]) => sub(a!, b!), { grad: true });
    await expectSame([{ shape: [1, 5, 1000], seed: 10 }], ([a]) => broadcastTo(a!, [3, 5, 1000]), { grad: true });
  });
});

describe('concatenation and slicing', () => {
  it('cat along channels and its gradient', async () => {
    await expectSame(
      [{ shape: [2, 3, 8, 8, 8], seed: 11 }, { shape: [2, 5, 8, 8, 8], seed: 12 }],
      ([a, b]) => cat([a!, b!], 1),
      { grad: true },
    );
  });

  it('slice of a tensor beyond one binding', async () => {
    await expectSame([{ shape: [4, 9, 300], seed: 13 }], ([a]) => slice(a!, 1, 2, 7), { grad: true });
  });
});

describe('conv3d by sample and channel blocks', () => {
  for (const variant of ['direct', 'cpu', 'gpu'] as const) {
    it(`${variant}: 3³ stride 1 and 2, with bias; forward, dgrad and wgrad`, async () => {
      await expectSame(
        [{ shape: [2, 5, 8, 8, 8], seed: 20 }, { shape: [6, 5, 3, 3, 3], seed: 21 }, { shape: [6], seed: 22 }],
        ([x, w, b]) => conv3d(x!, w!, b!, { padding: 1, variant }),
        { grad: true, rtol: 1e-4, atol: 1e-5 },
      );
      await expectSame(
        [{ shape: [1, 12, 8, 8, 8], seed: 23 }, { shape: [10, 12, 3, 3, 3], seed: 24 }],
        ([x, w]) => conv3d(x!, w!, null, { padding: 1, stride: 2, variant }),
        { grad: true, rtol: 1e-4, atol: 1e-5 },
      );
    });
  }

  it('1×1×1 on unaligned planes', async () => {
    await expectSame(
      [{ shape: [1, 9, 5, 6, 7], seed: 25 }, { shape: [7, 9, 1, 1, 1], seed: 26 }, { shape: [7], seed: 27 }],
      ([x, w, b]) => conv3d(x!, w!, b!),
      { grad: true, rtol: 1e-4, atol: 1e-5 },
    );
  });
});

describe('instance norm by plane blocks', () => {
  it('whole samples and channel blocks, aligned and unaligned planes; forward and backward', async () => {
    await expectSame(
      [{ shape: [3, 4, 8, 8, 8], seed: 30 }, { shape: [4], seed: 31 }, { shape: [4], seed: 32 }],
      ([x, w, b]) => instanceNorm3d(x!, w!, b!),
      { grad: true, rtol: 1e-4, atol: 1e-5 },
    );
    await expectSame(
      [{ shape: [2, 11, 5, 6, 7], seed: 33 }, { shape: [11], seed: 34 }, { shape: [11], seed: 35 }],
      ([x, w, b]) => instanceNorm3d(x!, w!, b!),
      { grad: true, rtol: 1e-4, atol: 1e-5 },
    );
  });

  it('the fused epilogues (ReLU, + residual, + residual → ReLU); forward and backward', async () => {
    await expectSame(
      [{ shape: [3, 4, 8, 8, 8], seed: 36 }, { shape: [4], seed: 37 }, { shape: [4], seed: 38 }],
      ([x, w, b]) => instanceNorm3dRelu(x!, w!, b!),
      { grad: true, rtol: 1e-4, atol: 1e-5 },
    );
    for (const relu of [false, true]) {
      await expectSame(
        [{ shape: [2, 11, 5, 6, 7], seed: 39 }, { shape: [2, 11, 5, 6, 7], seed: 40 }, { shape: [11], seed: 41 }, { shape: [11], seed: 42 }],
        ([x, r, w, b]) => instanceNorm3dAdd(x!, r!, w!, b!, 1e-5, { relu }),
        { grad: true, rtol: 1e-4, atol: 1e-5 },
      );
    }
    // Channel blocks of one sample (13 planes of 315 voxels), the second starting unaligned.
    await expectSame(
      [{ shape: [1, 16, 5, 7, 9], seed: 43 }, { shape: [1, 16, 5, 7, 9], seed: 44 }, { shape: [16], seed: 45 }, { shape: [16], seed: 46 }],
      ([x, r, w, b]) => instanceNorm3dAdd(x!, r!, w!, b!, 1e-5, { relu: true }),
      { grad: true, rtol: 1e-4, atol: 1e-5 },
    );
  });

  it('a plane larger than a binding is a LimitError naming the shape', () => {
    const x = tensor(randArray(2 * LIMIT, 1), [1, 1, 2, 8, LIMIT / 8], { device: narrow });
    expect(() => instanceNorm3d(x)).toThrow(/one channel plane of \[1, 1, 2, 8, 2048\]/);
    x.dispose();
  });
});

describe('interpolation and pooling by plane blocks', () => {
  it('trilinear up and down, forward and backward', async () => {
    await expectSame([{ shape: [2, 6, 4, 4, 4], seed: 40 }], ([x]) => interpolate(x!, { scaleFactor: 2 }), { grad: true });
    await expectSame([{ shape: [1, 7, 10, 6, 8], seed: 41 }], ([x]) => interpolate(x!, { size: [5, 12, 4], alignCorners: true }), { grad: true });
  });

  it('global average pooling, forward and backward', async () => {
    await expectSame([{ shape: [2, 9, 8, 8, 8], seed: 42 }], ([x]) => globalAvgPool3d(x!), { grad: true });
    await expectSame([{ shape: [4, 5, 5, 6, 7], seed: 43 }], ([x]) => globalAvgPool3d(x!), { grad: true });
  });
});

describe('losses by element ranges and row blocks', () => {
  const target = (seed: number): Input => ({ shape: [2, 3, 8, 8, 12], seed, grad: false });
  it('BCE with logits, mean, sum and none', async () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await expectSame([{ shape: [2, 3, 8, 8, 12], seed: 50 }, target(51)], ([x, t]) => bceWithLogits(x!, t!, { reduction }), { grad: true });
    }
  });

  it('generalized Dice, on probabilities and on logits', async () => {
    for (const logits of [false, true]) {
      await expectSame([{ shape: [2, 3, 8, 8, 12], seed: 52 }, target(53)], ([x, t]) => generalizedDiceLoss(logits ? x! : sigmoid(x!), t!, { sigmoid: logits }), { grad: true });
    }
  });
});

describe('Adam over element ranges', () => {
  it('two steps on a parameter beyond one binding (vec4 and scalar lengths)', async () => {
    for (const n of [6000, 6001]) {
      const got: Float32Array[] = [];
      for (const device of [wide, narrow]) {
        const p = tensor(randArray(n, 60), [n], { device });
        const state = new AdamState();
        for (let step = 0; step < 2; step++) {
          const g = tensor(randArray(n, 61 + step), [n], { device });
          adamStep([p], [g], state, { lr: 0.1, weightDecay: 0.01 });
          g.dispose();
        }
        got.push(await p.data());
        p.dispose();
        state.dispose();
      }
      expectClose(got[1]!, got[0]!, 1e-6, 1e-7, `parameter of ${n}`);
    }
  });
});

describe('EM attention by sample and voxel slab (and written over its input)', () => {
  for (const [what, xShape, K] of [
    ['samples that fit, aligned', [3, 6, 8, 8, 4], 4],
    ['voxel slabs, aligned', [2, 12, 8, 8, 8], 8],
    ['voxel slabs, unaligned', [1, 10, 7, 9, 11], 3],
  ] as const) {
    it(what, async () => {
      for (const shared of [true, false]) {
        const muShape: number[] = [shared ? 1 : xShape[0], xShape[1], K];
        const [w, n] = await Promise.all(
          [wide, narrow].map(async (device) => {
            const x = tensor(randArray((xShape as readonly number[]).reduce((a, b) => a * b, 1), 70), [...xShape], { device });
            const mu = tensor(randArray(muShape.reduce((a, b) => a * b, 1), 71), muShape, { device });
            const before = device.dispatches;
            // With shared bases y is also written over x (overwrite): the same values, x's buffer.
            const r = emAttention(x, mu, { stages: 3, overwrite: shared });
            expect(r.y.buffer === x.buffer).toBe(shared);
            const out = [await r.y.data(), await r.mu.data(), device.dispatches - before] as const;
            [x, mu, r.y, r.mu].forEach((t) => t.dispose());
            return out;
          }),
        );
        expect(n![2]).not.toBe(w![2]);
        expectClose(n![0], w![0], 1e-4, 1e-5, 'reconstruction');
        expectClose(n![1], w![1], 1e-4, 1e-5, 'bases');
      }
    });
  }
});
