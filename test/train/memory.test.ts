import { beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../../src/index.js';
import { Adam } from '../../src/nn/index.js';
import { buildBatch, loaderConfig, phantomProvider, type Batch } from '../../src/data/index.js';
import { buildModel } from '../../src/hnfnet/build.js';
import type { UNet3dConfig } from '../../src/hnfnet/config.js';
import { DEFAULT_SEG_LOSS } from '../../src/train/loss.js';
import { learningRate, type ScheduleConfig } from '../../src/train/schedule.js';
import { Trainer } from '../../src/train/trainer.js';
import { getDevice } from '../helpers.js';

let device: Device;
const batches: Batch[] = [];
beforeAll(async () => {
  device = await getDevice();
  const provider = phantomProvider({ kind: 'phantom', count: 3, seed: 5, size: 24 });
  const cfg = loaderConfig({ batchSize: 2, patchSize: [16, 16, 16], seed: 1, foregroundProb: 0.5 });
  for (let s = 0; s < 8; s++) batches.push(await buildBatch(provider, cfg, s));
});

const schedule: ScheduleConfig = { baseLr: 3e-3, epochs: 4, warmupEpochs: 1, power: 0.9, stepsPerEpoch: 2, perStep: true };

describe('trainer', () => {
  it('tiny: GPU memory after step 2 equals memory after every later step; the scheduled lr is used', async () => {
    const model = buildModel('tiny', { device, seed: 0 });
    const opt = new Adam(model, { lr: 1e-3, weightDecay: 1e-5 });
    const trainer = new Trainer(model, opt, { schedule, loss: DEFAULT_SEG_LOSS, accumulate: 1 });
    const stats: ReturnType<Device['memoryStats']>[] = [];
    const losses: number[] = [];
    for (const [i, b] of batches.entries()) {
      const r = await trainer.trainStep(b);
      expect(r.step).toBe(i + 1);
      expect(r.epoch).toBe(Math.floor(i / 2));
      expect(r.lr).toBe(learningRate(schedule, i));
      expect(r.loss).toBeCloseTo(r.diceLoss + r.bce, 5);
      expect(r.liveBytes).toBe(device.memoryStats().liveBytes);
      losses.push(r.loss);
      stats.push(device.memoryStats());
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    const after2 = stats[1]!;
    for (const s of stats.slice(2)) {
      expect(s.liveBytes).toBe(after2.liveBytes);
      expect(s.liveBuffers).toBe(after2.liveBuffers);
      // Not even the pool grows: every later step's buffers are reused ones.
      expect(s.created).toBe(after2.created);
    }
    // What stays is weights, EM bases and Adam's two moments: about three copies of the parameters.
    const paramBytes = model.parameterCount() * 4;
    expect(after2.liveBytes).toBeGreaterThanOrEqual(3 * paramBytes);
    expect(after2.liveBytes).toBeLessThan(3 * paramBytes * 1.5 + 1e6);
    opt.dispose();
    model.dispose();
  });

  it('gradient accumulation (2 × 1) trains like the true batch of 2: a U-Net, and tiny with its EM bases', async () => {
    const unet: UNet3dConfig = { kind: 'unet3d', inChannels: 4, outChannels: 3, widths: [4, 8], convsPerLevel: 1, norm: { kind: 'instance', affine: true, eps: 1e-5 } };
    const run = async (cfg: UNet3dConfig | 'tiny', accumulate: number): Promise<{ losses: number[]; mu: Float32Array | null; live: number }> => {
      const model = buildModel(cfg, { device, seed: 3 });
      const opt = new Adam(model, { lr: 1e-3 });
      const trainer = new Trainer(model, opt, { schedule, loss: DEFAULT_SEG_LOSS, accumulate });
      const losses: number[] = [];
      let live = 0;
      for (const [i, b] of batches.slice(0, 4).entries()) {
        losses.push((await trainer.trainStep(b)).loss);
        if (i === 1) live = device.memoryStats().liveBytes;
      }
      // Deferred bases are not left behind: memory after step 4 equals memory after step 2.
      expect(device.memoryStats().liveBytes).toBe(live);
      const mu = model.namedBuffers().find(([n]) => n === 'ema.mu')?.[1];
      const out = { losses, mu: mu ? await mu.data() : null, live };
      opt.dispose();
      model.dispose();
      return out;
    };
    for (const cfg of [unet, 'tiny'] as const) {
      const whole = await run(cfg, 1);
      const split = await run(cfg, 2);
      const name = cfg === 'tiny' ? 'tiny' : 'unet3d';
      for (let i = 0; i < whole.losses.length; i++) expect(Math.abs(split.losses[i]! - whole.losses[i]!), `${name} step ${i + 1}: ${split.losses[i]} vs ${whole.losses[i]}`).toBeLessThan(2e-4);
      if (cfg === 'tiny') {
        // The bases moved (four steps of momentum 0.9), and moved alike: once per step with the batch mean.
        let moved = 0;
        let diff = 0;
        const init = buildModel('tiny', { device, seed: 3 });
        const mu0 = await init.namedBuffers().find(([n]) => n === 'ema.mu')![1].data();
        init.dispose();
        for (let i = 0; i < mu0.length; i++) {
          moved = Math.max(moved, Math.abs(whole.mu![i]! - mu0[i]!));
          diff = Math.max(diff, Math.abs(split.mu![i]! - whole.mu![i]!));
        }
        expect(moved).toBeGreaterThan(1e-2);
        expect(diff).toBeLessThan(1e-5);
      }
    }
  });
});
