import { describe, expect, it } from 'vitest';
import { backward, mul, sum, tensor, tidy } from '../../src/index.js';
import { Adam, Conv3d, loadStateDict, saveStateDict, Module } from '../../src/nn/index.js';
import type { Tensor } from '../../src/index.js';
import { expectClose, getDevice, randArray } from '../helpers.js';

class Tiny extends Module {
  readonly a: Conv3d;
  readonly b: Conv3d;
  constructor(seed: number) {
    super();
    this.a = this.registerModule('a', new Conv3d(2, 3, 1));
    this.b = this.registerModule('b', new Conv3d(3, 1, 1, { bias: false }));
    let i = 0;
    for (const [, p] of this.namedParameters()) p.device.write(p.buffer, randArray(p.size, seed + i++));
  }
  forward(x: Tensor): Tensor {
    const h = this.a.call(x);
    const y = this.b.call(h);
    h.dispose();
    return y;
  }
}

/** torch.optim.Adam on the host, float64. */
function hostAdam(p: number[], g: number[], s: { m: number[]; v: number[]; t: number }, lr: number, wd: number): void {
  s.t++;
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! + wd * p[i]!;
    s.m[i] = b1 * s.m[i]! + (1 - b1) * gi;
    s.v[i] = b2 * s.v[i]! + (1 - b2) * gi * gi;
    p[i] = p[i]! - ((lr / (1 - b1 ** s.t)) * s.m[i]!) / (Math.sqrt(s.v[i]!) / Math.sqrt(1 - b2 ** s.t) + eps);
  }
}

describe('nn Adam', () => {
  it('follows torch.optim.Adam, skips parameters without gradients, and survives a state-dict load', async () => {
    const device = await getDevice();
    const model = new Tiny(1);
    const x = tensor(randArray(2 * 2 * 8, 5), [2, 2, 2, 2, 2], { device });
    const w = tensor(randArray(2 * 8, 6), [2, 1, 2, 2, 2], { device });
    const opt = new Adam(model, { lr: 0.01, weightDecay: 0.1 });
    const host = new Map<string, { p: number[]; s: { m: number[]; v: number[]; t: number } }>();
    for (const [n, p] of model.namedParameters()) host.set(n, { p: [...(await p.data())], s: { m: new Array(p.size).fill(0), v: new Array(p.size).fill(0), t: 0 } });
    const step = async (freezeB: boolean) => {
      const loss = tidy(() => sum(mul(model.call(x), w)));
      backward(loss);
      loss.dispose();
      if (freezeB) model.b.weight.zeroGrad();
      for (const [n, p] of model.namedParameters()) {
        if (!p.grad) continue;
        const h = host.get(n)!;
        hostAdam(h.p, [...(await p.grad.data())], h.s, 0.01, 0.1);
      }
      opt.step();
      opt.zeroGrad();
    };
    await step(false);
    await step(true);
    expect(opt.stepCount('a.weight')).toBe(2);
    expect(opt.stepCount('b.weight')).toBe(1);

    // A checkpoint of model and optimizer, restored into a fresh pair, continues identically.
    const weights = await saveStateDict(model);
    const optBytes = await opt.saveState();
    const model2 = new Tiny(7);
    loadStateDict(model2, weights);
    const opt2 = new Adam(model2, Adam.stateOptions(optBytes));
    opt2.loadState(optBytes);
    expect(opt2.options.weightDecay).toBeCloseTo(0.1);
    expect(opt2.stepCount('b.weight')).toBe(1);

    // Loading weights into the first model replaces its parameter tensors; its optimizer follows by name.
    loadStateDict(model, weights);
    await step(false);
    for (const [n, p] of model.namedParameters()) expectClose(await p.data(), host.get(n)!.p, 1e-4, 1e-6, n);

    const loss2 = tidy(() => sum(mul(model2.call(x), w)));
    backward(loss2);
    loss2.dispose();
    opt2.step();
    for (const [n, p] of model2.namedParameters()) expectClose(await p.data(), host.get(n)!.p, 1e-4, 1e-6, `restored ${n}`);

    const badOpt = new Adam(new (class extends Module {
      readonly c = this.registerModule('a', new Conv3d(2, 5, 1));
      forward(t: Tensor): Tensor {
        return this.c.call(t);
      }
    })());
    expect(() => badOpt.loadState(optBytes, 'adam.safetensors')).toThrow(/adam\.safetensors does not fit the model \(\d+ problems\):[\s\S]*a\.weight\.exp_avg: F32\[3, 2, 1, 1, 1\] in file, parameter is F32\[5, 2, 1, 1, 1\][\s\S]*state for b\.weight, which the model does not have/);
    for (const o of [opt, opt2, badOpt]) o.dispose();
    for (const m of [model, model2]) m.dispose();
    x.dispose();
    w.dispose();
  });
});
