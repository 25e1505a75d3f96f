/**
 * A small model for people who come without weights: the tiny HNF-Netv2 trained in the page on
 * generated phantoms for a fixed time, with the library's own Trainer (Dice + BCE, Adam) and
 * same-thread loader. A minute on a real GPU gives a model that finds the phantoms' tumours;
 * on a software adapter it gives a few steps, which is still enough to run the pipeline.
 */
import type { Device } from '../src/browser.js';
import { SameThreadLoader, phantomProvider } from '../src/data/loader.js';
import { buildModel, type SegmentationModel } from '../src/hnfnet/build.js';
import { presetConfig, type ModelConfig } from '../src/hnfnet/config.js';
import { DEFAULT_SEG_LOSS } from '../src/train/loss.js';
import { Trainer } from '../src/train/trainer.js';
import { Adam } from '../src/nn/optim/adam.js';
import { HnfnetError } from '../src/tensor/errors.js';

export interface TrainDemoOptions {
  device: Device;
  /** Wall-clock budget; default 60 s. */
  seconds?: number;
  /** Stop after this many steps even with time left. */
  maxSteps?: number;
  /** Cubic training patch edge (a multiple of 16 for the tiny model); default 32. */
  patch?: number;
  /** Edge of the generated phantoms; default 48. */
  phantomSize?: number;
  /** Distinct phantoms cycled through; default 8. */
  cases?: number;
  lr?: number;
  seed?: number;
  /** Aborting stops after the current step and keeps the model as it is. */
  signal?: AbortSignal;
  onStep?: (p: TrainProgress) => void;
}

export interface TrainProgress {
  step: number;
  loss: number;
  elapsedMs: number;
  budgetMs: number;
}

export interface TrainedModel {
  model: SegmentationModel;
  config: ModelConfig;
  preset: string;
  steps: number;
  losses: number[];
  ms: number;
}

export async function trainOnPhantoms(o: TrainDemoOptions): Promise<TrainedModel> {
  const preset = 'tiny';
  const config = presetConfig(preset);
  const patch = o.patch ?? 32;
  if (patch % 16 !== 0) throw new HnfnetError(`training patch ${patch} must be a multiple of 16`);
  const budgetMs = (o.seconds ?? 60) * 1000;
  const seed = o.seed ?? 0;
  const model = buildModel(config, { device: o.device, seed });
  const optimizer = new Adam(model, { lr: o.lr ?? 3e-3 });
  // A constant rate: the run's length is a time budget, so there is no last epoch to decay to.
  const trainer = new Trainer(model, optimizer, {
    schedule: { baseLr: o.lr ?? 3e-3, epochs: 1, warmupEpochs: 0, power: 0, stepsPerEpoch: 1_000_000, perStep: true },
    loss: DEFAULT_SEG_LOSS,
    accumulate: 1,
  });
  const loader = new SameThreadLoader(phantomProvider({ kind: 'phantom', count: o.cases ?? 8, seed, size: o.phantomSize ?? 48, cacheSize: o.cases ?? 8 }), {
    batchSize: 1,
    patchSize: [patch, patch, patch],
    // Mostly tumour-centred patches: with few steps, background-only patches teach little.
    foregroundProb: 0.8,
    augment: null,
    seed,
  });
  const losses: number[] = [];
  const t0 = performance.now();
  try {
    while (!o.signal?.aborted && losses.length < (o.maxSteps ?? Infinity)) {
      const rec = await trainer.trainStep(await loader.next());
      losses.push(rec.loss);
      const elapsedMs = performance.now() - t0;
      o.onStep?.({ step: rec.step, loss: rec.loss, elapsedMs, budgetMs });
      if (elapsedMs >= budgetMs) break;
    }
  } catch (e) {
    optimizer.dispose();
    model.dispose();
    throw e;
  }
  optimizer.dispose();
  await loader.close();
  model.eval();
  return { model, config, preset, steps: losses.length, losses, ms: performance.now() - t0 };
}
