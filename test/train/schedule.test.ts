import { beforeAll, describe, expect, it } from 'vitest';
import { backward, mul, sum, tensor, type Device, type Tensor } from '../../src/index.js';
import { Adam, Module } from '../../src/nn/index.js';
import { learningRate, polyFactor, warmupFactor, type ScheduleConfig } from '../../src/train/schedule.js';
import { getDevice } from '../helpers.js';

const paper = (over: Partial<ScheduleConfig> = {}): ScheduleConfig => ({ baseLr: 1e-3, epochs: 250, warmupEpochs: 5, power: 0.9, stepsPerEpoch: 10, perStep: true, ...over });

describe('learning-rate schedule', () => {
  it('per step: linear warm-up over the first 5 epochs times (1 − t/epochs)^0.9, t = step / stepsPerEpoch', () => {
    const s = paper();
    for (const step of [0, 1, 7, 23, 49, 50, 51, 100, 1234, 2499]) {
      const t = step / 10;
      const warm = Math.min(1, (t + 0.1) / 5);
      const want = 1e-3 * warm * Math.pow(1 - t / 250, 0.9);
      expect(learningRate(s, step)).toBeCloseTo(want, 15);
    }
    // The first step already moves, with a fiftieth of the rate (one step of 5 × 10).
    expect(learningRate(s, 0)).toBeCloseTo(1e-3 / 50, 15);
    // Warm-up ends exactly at epoch 5: from there on it is the polynomial decay alone.
    expect(warmupFactor(s, 49)).toBe(1);
    expect(warmupFactor(s, 48)).toBeLessThan(1);
    expect(learningRate(s, 50)).toBeCloseTo(1e-3 * Math.pow(1 - 5 / 250, 0.9), 15);
    expect(learningRate(s, 1250)).toBeCloseTo(1e-3 * Math.pow(0.5, 0.9), 15);
    // The last step of the run has a small positive rate; beyond the run it is 0, never negative.
    expect(learningRate(s, 2499)).toBeGreaterThan(0);
    expect(learningRate(s, 2500)).toBe(0);
    expect(learningRate(s, 3000)).toBe(0);
  });

  it('rises during warm-up, then falls monotonically, with no jump where warm-up ends', () => {
    const s = paper();
    const lrs = Array.from({ length: 2500 }, (_, i) => learningRate(s, i));
    for (let i = 1; i < 50; i++) expect(lrs[i]!).toBeGreaterThan(lrs[i - 1]!);
    for (let i = 50; i < 2500; i++) expect(lrs[i]!).toBeLessThan(lrs[i - 1]!);
    const biggestStep = Math.max(...lrs.slice(1).map((v, i) => Math.abs(v - lrs[i]!)));
    expect(biggestStep).toBeLessThanOrEqual(1e-3 / 50 + 1e-12);
  });

  it('per epoch: constant within an epoch, warm-up by whole epochs', () => {
    const s = paper({ perStep: false });
    for (let e = 0; e < 12; e++) {
      const want = 1e-3 * Math.min(1, (e + 1) / 5) * Math.pow(1 - e / 250, 0.9);
      for (let k = 0; k < 10; k++) expect(learningRate(s, e * 10 + k)).toBeCloseTo(want, 15);
    }
  });

  it('without warm-up the first step runs at the base rate; power 1 is linear decay', () => {
    const s = paper({ warmupEpochs: 0, power: 1, epochs: 4, stepsPerEpoch: 5 });
    expect(learningRate(s, 0)).toBe(1e-3);
    expect(polyFactor(s, 10)).toBeCloseTo(0.5, 15);
    expect(learningRate(s, 15)).toBeCloseTo(1e-3 / 4, 15);
    expect(() => learningRate(s, -1)).toThrow(/non-negative integer/);
    expect(() => learningRate(s, 1.5)).toThrow(/non-negative integer/);
  });
});

class Vector extends Module<[], Tensor> {
  constructor(init: Float32Array, device: Device) {
    super();
    this.registerParameter('w', tensor(init, [init.length], { device }));
  }
  get w(): Tensor {
    return this.param('w');
  }
  forward(): Tensor {
    return this.w;
  }
}

describe('Adam under the schedule', () => {
  let device: Device;
  beforeAll(async () => {
    device = await getDevice();
  });

  it('every update matches torch.optim.Adam with L2 weight decay, at the scheduled rate', async () => {
    const n = 6;
    const w0 = Float32Array.from({ length: n }, (_, i) => 0.3 * (i - 2.5));
    const model = new Vector(w0, device);
    const [beta1, beta2, eps, wd] = [0.9, 0.999, 1e-8, 1e-5];
    const opt = new Adam(model, { lr: 1e-3, betas: [beta1, beta2], eps, weightDecay: wd });
    const sched = paper({ warmupEpochs: 2, epochs: 6, stepsPerEpoch: 3 });
    // Host reference in float64: g = c + wd·w; m, v moving averages; bias-corrected step.
    const w = Float64Array.from(w0);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    for (let step = 0; step < 18; step++) {
      // loss = Σ c·w, so the gradient is c; c changes every step (signs and scales vary).
      const c = Float32Array.from({ length: n }, (_, i) => Math.sin(1.7 * step + i) * (1 + i));
      const lr = learningRate(sched, step);
      opt.lr = lr;
      const ct = tensor(c, [n], { device });
      const loss = sum(mul(model.call(), ct));
      backward(loss);
      loss.dispose();
      ct.dispose();
      opt.step();
      opt.zeroGrad();
      const t = step + 1;
      for (let i = 0; i < n; i++) {
        const g = c[i]! + wd * w[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        const mh = m[i]! / (1 - beta1 ** t);
        const vh = v[i]! / (1 - beta2 ** t);
        w[i] = w[i]! - (lr * mh) / (Math.sqrt(vh) + eps);
      }
      const got = await model.w.data();
      for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - w[i]!), `step ${t}, element ${i}`).toBeLessThan(1e-6);
    }
    expect(opt.stepCount('w')).toBe(18);
    opt.dispose();
    model.dispose();
  });
});
