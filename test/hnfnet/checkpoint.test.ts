/**
 * Activation checkpointing of the PMF modules (`activationCheckpointing: 'pmf'`): a training
 * step's gradients and moved EM bases equal those without it; the EM unit under checkpoint()
 * moves its bases once; training steps with it do not grow memory, and peak lower.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { backward, checkpoint, mul, randn, sum, tensor, tidy, type Device } from '../../src/index.js';
import { buildModel, type HNFNet } from '../../src/hnfnet/index.js';
import { Adam } from '../../src/nn/index.js';
import { buildBatch, loaderConfig, phantomProvider, type Batch } from '../../src/data/index.js';
import { DEFAULT_SEG_LOSS, segmentationLoss } from '../../src/train/loss.js';
import { nativeOutputs, Trainer } from '../../src/train/trainer.js';
import { expectClose, getDevice, randArray } from '../helpers.js';

let device: Device;
beforeAll(async () => {
  device = await getDevice();
});

async function state(model: HNFNet): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, p] of model.namedParameters()) if (p.grad) out.set(name, await p.grad.data());
  out.set('ema.mu', await model.ema.bases.data());
  return out;
}

function compare(got: Map<string, Float32Array>, want: Map<string, Float32Array>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, w] of want) {
    const g = got.get(name)!;
    const scale = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(g, w, 1e-3, 1e-5 * scale + 1e-7, name);
  }
}

describe('activation checkpointing of the PMF modules', () => {
  it('tiny, batch 2, one training step: the same gradients and moved EM bases as without', async () => {
    const x = randn([2, 4, 16, 16, 16], { seed: 1, device });
    const t = tensor(
      randArray(2 * 3 * 16 ** 3, 2).map((v) => (v > 0.3 ? 1 : 0)),
      [2, 3, 16, 16, 16],
      { device },
    );
    const step = async (mode: 'none' | 'pmf') => {
      const model = buildModel('tiny', { device, seed: 4, activationCheckpointing: mode });
      expect(model.pmfs.every((p) => p.checkpointed === (mode === 'pmf'))).toBe(true);
      const loss = tidy(() => {
        const [logits, target] = nativeOutputs(model, x, t);
        return segmentationLoss(logits, target, DEFAULT_SEG_LOSS).loss;
      });
      const value = await loss.item();
      backward(loss);
      loss.dispose();
      const s = await state(model);
      model.dispose();
      return { value, s };
    };
    const plain = await step('none');
    const ck = await step('pmf');
    expect(ck.value).toBeCloseTo(plain.value, 6);
    // Every parameter that has a gradient without checkpointing has it with (the EM unit's conv1 has none).
    expect(plain.s.size).toBeGreaterThan(100);
    compare(ck.s, plain.s);
    [x, t].forEach((v) => v.dispose());
  });

  it('the EM unit under checkpoint(): its bases move once, the recompute sees the old ones', async () => {
    const run = async (ck: boolean) => {
      const model = buildModel('tiny', { device, seed: 6 });
      const x = randn([2, 60, 8, 8, 8], { seed: 7, device, requiresGrad: true });
      const w = tensor(randArray(x.size, 8), [...x.shape], { device });
      const loss = tidy(() => sum(mul(ck ? checkpoint(([v]) => model.ema.call(v!), [x]) : model.ema.call(x), w)));
      backward(loss);
      const s = await state(model);
      s.set('x', await x.grad!.data());
      [loss, x, w].forEach((v) => v.dispose());
      model.dispose();
      return s;
    };
    const plain = await run(false);
    const ck = await run(true);
    expect(plain.has('ema.conv2.weight') && plain.has('ema.norm2.weight')).toBe(true);
    compare(ck, plain);
  });

  it('training steps with it: memory after step 2 equals every later step’s, and the peak is lower', async () => {
    const provider = phantomProvider({ kind: 'phantom', count: 2, seed: 5, size: 40 });
    const cfg = loaderConfig({ batchSize: 1, patchSize: [32, 32, 32], seed: 1, foregroundProb: 0.5 });
    const batches: Batch[] = [];
    for (let s = 0; s < 4; s++) batches.push(await buildBatch(provider, cfg, s));
    const schedule = { baseLr: 1e-3, epochs: 1, warmupEpochs: 0, power: 0.9, stepsPerEpoch: 100, perStep: true };
    const peaks: Record<string, number> = {};
    for (const mode of ['none', 'pmf'] as const) {
      const model = buildModel('tiny', { device, seed: 0, activationCheckpointing: mode });
      const opt = new Adam(model, { lr: 1e-3 });
      const trainer = new Trainer(model, opt, { schedule, loss: DEFAULT_SEG_LOSS, accumulate: 1 });
      const live: number[] = [];
      let peak = 0;
      for (const [i, b] of batches.entries()) {
        await device.sync();
        const before = device.memoryStats().liveBytes;
        device.resetPeakMemory();
        await trainer.trainStep(b);
        await device.sync();
        if (i >= 1) peak = Math.max(peak, device.memoryStats().peakBytes - before);
        live.push(device.memoryStats().liveBytes);
      }
      for (const l of live.slice(2)) expect(l, mode).toBe(live[1]);
      peaks[mode] = peak;
      opt.dispose();
      model.dispose();
    }
    expect(peaks.pmf!).toBeLessThan(0.9 * peaks.none!);
  });
});

