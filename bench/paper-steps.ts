/**
 * The two workloads of the paper's sizes whose GPU memory issue 16 bounds: inference of one
 * [1, 4, s, s, s] window (eval mode, no gradient) and one training step at s³, batch 1
 * (Trainer.trainStep: upload, forward, Dice + BCE, backward, Adam; another batch and
 * activation checkpointing for scripts/memory-peak.ts). Shared by the bench rows
 * (bench/cases/paper.ts) and the measuring script (scripts/memory-peak.ts).
 */
import { Generator, noGrad, randn, zeros, type Device } from '../src/index.js';
import { buildModel, type ActivationCheckpointing, type SegmentationModel } from '../src/hnfnet/index.js';
import { Adam } from '../src/nn/index.js';
import { DEFAULT_SEG_LOSS } from '../src/train/loss.js';
import { Trainer, type TrainBatch } from '../src/train/trainer.js';

export interface Step {
  run(): Promise<void>;
  dispose(): void;
}

export function inferenceStep(device: Device, preset: string, side: number): Step {
  const model = buildModel(preset, { device, seed: 0 }).eval();
  const x = randn([1, 4, side, side, side], { seed: 1, device });
  return {
    async run() {
      const y = noGrad(() => model.call(x));
      await y.data();
      y.dispose();
    },
    dispose() {
      x.dispose();
      model.dispose();
    },
  };
}

export function syntheticBatch(side: number, batch = 1): TrainBatch {
  const g = new Generator(2);
  const v = side ** 3;
  const images = Float32Array.from({ length: batch * 4 * v }, () => g.normal());
  // A cube of "tumour" with nested regions, so every region's Dice term has foreground.
  const regions = new Float32Array(batch * 3 * v);
  const lo = side >> 2;
  const hi = side - lo;
  for (let r = 0; r < 3; r++) {
    const a = lo + r * (side >> 4);
    const b = hi - r * (side >> 4);
    for (let z = a; z < b; z++) for (let y = a; y < b; y++) regions.fill(1, r * v + (z * side + y) * side + a, r * v + (z * side + y) * side + b);
  }
  for (let n = 1; n < batch; n++) regions.copyWithin(n * 3 * v, 0, 3 * v);
  return { step: 0, shape: [batch, 4, side, side, side], images, regions };
}

export interface TrainingStepOptions {
  /** Samples per step (default 1). */
  batch?: number;
  activationCheckpointing?: ActivationCheckpointing;
}

export function trainingStep(device: Device, preset: string, side: number, opts: TrainingStepOptions = {}): Step & { model: SegmentationModel } {
  const model = buildModel(preset, { device, seed: 0, activationCheckpointing: opts.activationCheckpointing ?? 'none' });
  const opt = new Adam(model, { lr: 1e-4 });
  const trainer = new Trainer(model, opt, {
    schedule: { baseLr: 1e-4, epochs: 1, warmupEpochs: 0, power: 0.9, stepsPerEpoch: 1000, perStep: true },
    loss: DEFAULT_SEG_LOSS,
    accumulate: 1,
  });
  // Adam's moments exist from the first step on; made now, the measured step is a steady one
  // (a step of lr 0 on zero gradients moves nothing).
  for (const p of model.parameters()) p.grad = zeros(p.shape, { device });
  opt.lr = 0;
  opt.step();
  opt.zeroGrad();
  const batch = syntheticBatch(side, opts.batch ?? 1);
  return {
    model,
    async run() {
      await trainer.trainStep(batch);
    },
    dispose() {
      opt.dispose();
      model.dispose();
    },
  };
}
