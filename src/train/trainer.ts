/**
 * One optimizer step of segmentation training, given host batches: upload, forward (training
 * mode, so the EM bases follow their moving average), loss, backward, Adam with the scheduled
 * learning rate. Nothing here touches files; the epoch loop is in train-loop.ts.
 *
 * Memory: every tensor a step makes is disposed before it returns (gradients by zeroGrad,
 * the graph by backward and dispose); what persists is the weights, the EM bases and Adam's
 * moments, allocated by the first step. So the live bytes after any later step equal those
 * after the second (the first also compiles pipelines and sizes the pool).
 */
import { scale } from '../kernels/unary.js';
import type { Adam } from '../nn/optim/adam.js';
import { backward } from '../tensor/autograd.js';
import type { Device } from '../tensor/device.js';
import { HnfnetError } from '../tensor/errors.js';
import { tidy } from '../tensor/scope.js';
import { empty, tensor, type Tensor } from '../tensor/tensor.js';
import type { SegmentationModel } from '../hnfnet/build.js';
import type { HNFNet } from '../hnfnet/model.js';
import { EMAUnit } from '../hnfnet/ema-unit.js';
import { inputStride } from '../hnfnet/config.js';
import { segmentationLoss, type SegLossConfig } from './loss.js';
import { interpolate } from '../kernels/interpolate.js';
import { learningRate, type ScheduleConfig } from './schedule.js';

/**
 * (logits, target) where the loss is taken: a model with inputStride 2 is compared at its own
 * half resolution with the regions brought down by the same 2×2×2 mean (fractions), as the
 * twin's trainer does (python/hnfnet_torch/train.py, native_outputs).
 */
export function nativeOutputs(model: SegmentationModel, x: Tensor, target: Tensor): [Tensor, Tensor] {
  if (inputStride(model.config) === 1) return [model.call(x), target];
  const logits = (model as HNFNet).call(x, true);
  return [logits, interpolate(target, { size: logits.shape.slice(2) })];
}

/** What a step needs of a batch (src/data's `Batch` has these fields). */
export interface TrainBatch {
  step: number;
  /** [B, C, D, H, W]. */
  shape: readonly [number, number, number, number, number];
  images: Float32Array;
  /** [B, 3, D, H, W] region masks (WT, TC, ET). */
  regions: Float32Array;
}

export interface StepRecord {
  /** Optimizer steps done after this one (1 for the first). */
  step: number;
  /** Epoch the step belongs to (0-based). */
  epoch: number;
  loss: number;
  diceLoss: number;
  bce: number;
  lr: number;
  /** Wall time of the step, upload to read-back. */
  seconds: number;
  /** GPU bytes held after the step. */
  liveBytes: number;
}

export interface TrainerOptions {
  schedule: ScheduleConfig;
  loss: SegLossConfig;
  /** Micro-batches per step (gradient accumulation). */
  accumulate: number;
  /** Optimizer steps already done (a resumed run). */
  startStep?: number;
}

export class NonFiniteLossError extends HnfnetError {
  override name = 'NonFiniteLossError';
  override readonly code = 'NON_FINITE_LOSS';
}

export class Trainer {
  /** Optimizer steps done. */
  step: number;
  private readonly device: Device;

  constructor(
    readonly model: SegmentationModel,
    readonly optimizer: Adam,
    readonly opts: TrainerOptions,
  ) {
    this.step = opts.startStep ?? 0;
    const first = model.parameters()[0];
    if (!first) throw new HnfnetError('trainer: the model has no parameters');
    this.device = first.device;
  }

  /** The learning rate of the next step. */
  get nextLr(): number {
    return learningRate(this.opts.schedule, this.step);
  }

  async trainStep(batch: TrainBatch): Promise<StepRecord> {
    const started = performance.now();
    const [B, C, D, H, W] = batch.shape;
    const micro = this.opts.accumulate;
    if (B % micro !== 0) throw new HnfnetError(`trainer: batch of ${B} does not split into ${micro} equal micro-batches`);
    const mb = B / micro;
    const vox = D * H * W;
    if (batch.images.length !== B * C * vox || batch.regions.length !== B * 3 * vox) {
      throw new HnfnetError(`trainer: batch of shape [${batch.shape.join(', ')}] has ${batch.images.length} image and ${batch.regions.length} region values`);
    }
    const lr = this.nextLr;
    this.model.train();
    this.optimizer.lr = lr;
    // One read-back per step: every micro-batch's (loss, dice, bce) is copied into this buffer.
    const stats = empty([micro, 3], this.device, 'train_stats');
    // With accumulation the EM bases move once per step, with the whole batch's mean (ema-unit.ts).
    const units = micro > 1 ? this.model.namedModules().flatMap(([, m]) => (m instanceof EMAUnit ? [m] : [])) : [];
    for (const u of units) u.deferBaseUpdates();
    try {
      for (let m = 0; m < micro; m++) {
        const x = tensor(batch.images.subarray(m * mb * C * vox, (m + 1) * mb * C * vox), [mb, C, D, H, W], { device: this.device });
        const t = tensor(batch.regions.subarray(m * mb * 3 * vox, (m + 1) * mb * 3 * vox), [mb, 3, D, H, W], { device: this.device });
        const parts = tidy(() => {
          const [logits, target] = nativeOutputs(this.model, x, t);
          const l = segmentationLoss(logits, target, this.opts.loss);
          return { ...l, objective: micro === 1 ? l.loss : scale(l.loss, 1 / micro) };
        });
        x.dispose();
        t.dispose();
        backward(parts.objective);
        [parts.loss, parts.dice, parts.bce].forEach((v, i) => this.device.copy(v.buffer, 0, stats.buffer, (m * 3 + i) * 4, 4));
        for (const v of new Set<Tensor>([parts.objective, parts.loss, parts.dice, parts.bce])) v.dispose();
      }
      for (const u of units) u.commitBaseUpdates();
    } catch (e) {
      for (const u of units) u.discardPending();
      stats.dispose();
      throw e;
    }
    this.optimizer.step();
    this.optimizer.zeroGrad();
    const values = await stats.data();
    stats.dispose();
    let loss = 0;
    let diceLoss = 0;
    let bce = 0;
    for (let m = 0; m < micro; m++) {
      loss += values[m * 3]! / micro;
      diceLoss += values[m * 3 + 1]! / micro;
      bce += values[m * 3 + 2]! / micro;
    }
    this.step++;
    const rec: StepRecord = {
      step: this.step,
      epoch: Math.floor((this.step - 1) / this.opts.schedule.stepsPerEpoch),
      loss,
      diceLoss,
      bce,
      lr,
      seconds: (performance.now() - started) / 1000,
      liveBytes: this.device.memoryStats().liveBytes,
    };
    if (!Number.isFinite(loss)) throw new NonFiniteLossError(`training step ${this.step}: the loss is ${loss} (dice ${diceLoss}, bce ${bce}); stopping (the last checkpoint is from before it)`);
    return rec;
  }
}
