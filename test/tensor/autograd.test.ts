import { beforeAll, describe, expect, it } from 'vitest';
import { add, backward, bmm, exp, HnfnetError, mean, mul, noGrad, randn, relu, sigmoid, softmax, sum, tensor, tidy, type Device } from '../../src/index.js';
import { expectClose, getDevice } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

describe('autograd', () => {
  it('a tensor used twice accumulates both gradients', async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = sum(add(mul(x, x), x)); // d/dx (x² + x) = 2x + 1
    backward(y);
    expect(Array.from(await x.grad!.data())).toEqual([3, 5, 7]);
    // A second graph adds into .grad, as in PyTorch.
    backward(sum(mul(x, x)));
    expect(Array.from(await x.grad!.data())).toEqual([5, 9, 13]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });

  it('backward with an upstream gradient for non-scalar outputs', async () => {
    const x = tensor([1, -2, 3], [3], { requiresGrad: true });
    const y = relu(x);
    expect(() => backward(y)).toThrow(/not a scalar/);
    backward(y, tensor([10, 20, 30], [3]));
    expect(Array.from(await x.grad!.data())).toEqual([10, 0, 30]);
  });

  it('noGrad and detach record nothing', () => {
    const x = tensor([1, 2], [2], { requiresGrad: true });
    const y = noGrad(() => mul(x, x));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const z = mul(x.detach(), x.detach());
    expect(z.requiresGrad).toBe(false);
    expect(() => backward(z)).toThrow(HnfnetError);
  });

  it('a freed graph cannot be run twice, unless retained', async () => {
    const x = tensor([2], [1], { requiresGrad: true });
    const y = exp(mul(x, x));
    backward(y, undefined, { retainGraph: true });
    backward(y);
    // d/dx exp(x²) = 2x·exp(x²), accumulated over the two passes
    expectClose(await x.grad!.data(), [2 * (2 * 2 * Math.exp(4))], 1e-5, 0);
    expect(() => backward(y)).toThrow(/already freed/);
  });

  it('diamond graphs and multiple paths to a leaf', async () => {
    const w = tensor([0.5, -1, 2], [1, 3, 1], { requiresGrad: true });
    const x = randn([2, 3, 4], { seed: 1, requiresGrad: true });
    const h = sigmoid(mul(x, w));
    const a = softmax(h, 2);
    const b = bmm(h.reshape([2, 3, 4]), a.reshape([2, 4, 3]));
    const loss = mean(add(sum(b, [1, 2]), sum(h, [1, 2])));
    backward(loss);
    expect(w.grad!.shape).toEqual([1, 3, 1]);
    expect(x.grad!.shape).toEqual([2, 3, 4]);
    expect((await w.grad!.data()).every(Number.isFinite)).toBe(true);
  });

  it('intermediates are freed when backward passes them', () => {
    const x = randn([64, 64], { seed: 2, requiresGrad: true });
    const live0 = device.memoryStats().liveBytes;
    const loss = tidy(() => mean(relu(mul(sigmoid(x), exp(x)))));
    // Saved activations are alive until backward...
    expect(device.memoryStats().liveBytes).toBeGreaterThan(live0 + 4 * 64 * 64 * 3);
    backward(loss);
    loss.dispose();
    // ...and afterwards only x.grad remains.
    expect(device.memoryStats().liveBytes - live0).toBe(64 * 64 * 4);
  });

  it('disposing an unused forward graph releases its saved tensors', () => {
    const x = randn([32, 32], { seed: 3, requiresGrad: true });
    const live0 = device.memoryStats().liveBytes;
    const y = tidy(() => sum(mul(sigmoid(x), x)));
    y.dispose();
    expect(device.memoryStats().liveBytes).toBe(live0);
  });

  it('50 forward/backward steps leave live GPU bytes where the first step left them', async () => {
    const w1 = randn([1, 8, 16], { seed: 4, requiresGrad: true });
    const w2 = randn([1, 16, 4], { seed: 5, requiresGrad: true });
    const x = randn([1, 32, 8], { seed: 6 });
    const step = async () => {
      const loss = tidy(() => {
        const h = relu(bmm(x, w1));
        const out = softmax(bmm(h, w2), 2);
        return mean(mul(out, out));
      });
      backward(loss);
      const v = await loss.item();
      loss.dispose();
      // a plain SGD update outside autograd
      noGrad(() => {
        for (const w of [w1, w2]) {
          const g = w.grad!;
          w.zeroGrad();
          g.dispose();
        }
      });
      return v;
    };
    await step();
    const after1 = device.memoryStats().liveBytes;
    const buffers1 = device.memoryStats().liveBuffers;
    for (let i = 0; i < 49; i++) await step();
    expect(device.memoryStats().liveBytes).toBe(after1);
    expect(device.memoryStats().liveBuffers).toBe(buffers1);
  });
});
