/**
 * The paper's learning-rate schedule: a linear warm-up over the first epochs, multiplied by the
 * polynomial decay lr × (1 − t/epochs)^power.
 *
 *   t        progress in epochs: step / stepsPerEpoch (per-step), or ⌊step / stepsPerEpoch⌋ (per-epoch)
 *   warm(t)  min(1, (t + u) / warmupEpochs), u = one step (per-step) or one epoch (per-epoch);
 *            1 without warm-up. Counting the step being taken means the first step already
 *            moves (lr > 0), and warm-up ends exactly when t reaches warmupEpochs.
 *   lr(t)    baseLr · warm(t) · max(0, 1 − t/epochs)^power
 *
 * Why multiply rather than switch from one rule to the other: the product is continuous, so the
 * learning rate never jumps at the end of warm-up (a switch would go from lr to lr·(1 − 5/250)^0.9
 * — harmless, but a kink in every curve). Per-step is the default: with ~300 steps per BraTS epoch
 * a per-epoch staircase makes the first warm-up epoch run at a fifth of the rate throughout.
 *
 * `step` is the 0-based index of the optimizer step about to be taken.
 */
import { HnfnetError } from '../tensor/errors.js';

export interface ScheduleConfig {
  baseLr: number;
  epochs: number;
  warmupEpochs: number;
  power: number;
  stepsPerEpoch: number;
  /** Interpolate within an epoch (true) or hold the rate constant over each epoch (false). */
  perStep: boolean;
}

export function validateSchedule(s: ScheduleConfig): void {
  if (!(s.baseLr >= 0 && Number.isFinite(s.baseLr))) throw new HnfnetError(`schedule: lr must be a non-negative number, got ${s.baseLr}`);
  if (!(Number.isInteger(s.epochs) && s.epochs >= 1)) throw new HnfnetError(`schedule: epochs must be a positive integer, got ${s.epochs}`);
  if (!(s.warmupEpochs >= 0 && Number.isFinite(s.warmupEpochs))) throw new HnfnetError(`schedule: warmupEpochs must be a non-negative number, got ${s.warmupEpochs}`);
  if (!(s.power >= 0 && Number.isFinite(s.power))) throw new HnfnetError(`schedule: power must be a non-negative number, got ${s.power}`);
  if (!(Number.isInteger(s.stepsPerEpoch) && s.stepsPerEpoch >= 1)) throw new HnfnetError(`schedule: stepsPerEpoch must be a positive integer, got ${s.stepsPerEpoch}`);
}

/** Progress in epochs at `step`, as the schedule sees it. */
export function scheduleProgress(s: ScheduleConfig, step: number): number {
  const t = step / s.stepsPerEpoch;
  return s.perStep ? t : Math.floor(t);
}

export function warmupFactor(s: ScheduleConfig, step: number): number {
  if (!(s.warmupEpochs > 0)) return 1;
  const unit = s.perStep ? 1 / s.stepsPerEpoch : 1;
  return Math.min(1, (scheduleProgress(s, step) + unit) / s.warmupEpochs);
}

export function polyFactor(s: ScheduleConfig, step: number): number {
  return Math.pow(Math.max(0, 1 - scheduleProgress(s, step) / s.epochs), s.power);
}

/** The learning rate of optimizer step `step` (0-based). */
export function learningRate(s: ScheduleConfig, step: number): number {
  if (!(Number.isInteger(step) && step >= 0)) throw new HnfnetError(`schedule: step must be a non-negative integer, got ${step}`);
  return s.baseLr * warmupFactor(s, step) * polyFactor(s, step);
}
