/**
 * The epoch loop: steps until `epochs · stepsPerEpoch`, validation every few epochs, the best
 * and last checkpoints. Where the bytes go (files, IndexedDB, nowhere) is the caller's, through
 * the hooks; so is where batches come from.
 *
 * An epoch is `stepsPerEpoch` optimizer steps (by default ⌈training cases / batch⌉, so about
 * one pass over the cases). Batches come from a loader whose sample order is a function of
 * (seed, step), which is what lets a resumed run see exactly the batches it would have seen.
 */
import type { ValidationResult } from './checkpoint.js';
import type { StepRecord, TrainBatch, Trainer } from './trainer.js';
import { HnfnetError } from '../tensor/errors.js';

export interface BatchSource {
  next(): Promise<TrainBatch>;
}

export type StopReason = 'finished' | 'stop-after' | 'interrupted';

export interface LoopOptions {
  trainer: Trainer;
  batches: BatchSource;
  epochs: number;
  stepsPerEpoch: number;
  /** Validate after every this many epochs, and after the last. */
  validateEvery: number;
  /** Save `last` after every this many epochs, after the last, and when stopping early. */
  checkpointEvery: number;
  /** The best validation so far (a resumed run's). */
  best: ValidationResult | null;
  validate?: (at: { epoch: number; step: number }) => Promise<ValidationResult>;
  onStep?: (r: StepRecord) => void | Promise<void>;
  onValidation?: (v: ValidationResult, improved: boolean) => void | Promise<void>;
  /** Writes the weights as the best so far (called before `saveLast` of the same epoch). */
  saveBest?: (v: ValidationResult) => Promise<void>;
  /** Writes the resumable checkpoint of the trainer's current step, with `best`. */
  saveLast?: (best: ValidationResult | null) => Promise<void>;
  /** Stop (with a checkpoint) after this many steps of this session. */
  stopAfterSteps?: number;
  /** Polled between steps (e.g. set by SIGINT): stop with a checkpoint. */
  shouldStop?: () => boolean;
  /**
   * Called after every step and validation, when the GPU queue has drained: the place to
   * measure kernel variants that the work just run queued (`device.tuner.tunePending()`).
   */
  betweenSteps?: () => Promise<void>;
}

export interface LoopResult {
  reason: StopReason;
  step: number;
  best: ValidationResult | null;
}

export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const { trainer, stepsPerEpoch: spe } = o;
  const total = o.epochs * spe;
  let best = o.best;
  let steps = 0;
  let savedAt = -1;
  const saveLast = async (): Promise<void> => {
    if (savedAt === trainer.step) return;
    await o.saveLast?.(best);
    savedAt = trainer.step;
  };
  while (trainer.step < total) {
    const stop: StopReason | null = o.shouldStop?.() ? 'interrupted' : o.stopAfterSteps !== undefined && steps >= o.stopAfterSteps ? 'stop-after' : null;
    if (stop) {
      await saveLast();
      return { reason: stop, step: trainer.step, best };
    }
    const batch = await o.batches.next();
    if (batch.step !== trainer.step) throw new HnfnetError(`training loop: the loader delivered step ${batch.step}, the trainer is at step ${trainer.step}`);
    const rec = await trainer.trainStep(batch);
    steps++;
    await o.onStep?.(rec);
    await o.betweenSteps?.();
    if (trainer.step % spe !== 0) continue;
    const epoch = trainer.step / spe;
    const last = trainer.step === total;
    if (o.validate && (epoch % o.validateEvery === 0 || last)) {
      const v = await o.validate({ epoch, step: trainer.step });
      const improved = best === null || v.mean > best.mean;
      if (improved) {
        best = v;
        await o.saveBest?.(v);
      }
      await o.onValidation?.(v, improved);
      await o.betweenSteps?.();
    }
    if (epoch % o.checkpointEvery === 0 || last) await saveLast();
  }
  await saveLast();
  return { reason: 'finished', step: trainer.step, best };
}
