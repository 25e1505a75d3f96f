/**
 * Checkpoint bytes (no file I/O here; src/cli writes them atomically).
 *
 * Weights file (`last.safetensors`, `best.safetensors`): every parameter and buffer (the EM bases
 * are a buffer, so their moving average survives), loadable alone for inference by weights.ts's
 * `loadModelFromWeights` (what `hnfnet infer` uses). Metadata:
 *   hnfnet_config   the model configuration (JSON): enough to rebuild the network
 *   hnfnet_preset   the preset it came from, or "custom"
 *   format          "pt" (as weights.ts writes it, so Python's safetensors loads it as PyTorch's)
 *   hnfnet_run      the run's id; hnfnet_step / hnfnet_epoch: optimizer steps and epochs done
 *   hnfnet_kind     "last" or "best"; hnfnet_val: the validation result that made a "best"
 *
 * Training-state file (`last.train.safetensors`): Adam's moment estimates per parameter (as
 * `Adam.saveState` writes them: `<name>.exp_avg`, `<name>.exp_avg_sq`, per-parameter steps and
 * hyper-parameters) plus `hnfnet_train`, the JSON of TrainState: step, epoch, best result so far,
 * generator states, the resolved run configuration and the case split. Run id and step are in
 * both files, so a pair whose halves come from different writes is detected.
 */
import type { Adam } from '../nn/optim/adam.js';
import { decodeSafetensors, encodeSafetensors } from '../nn/safetensors.js';
import { saveStateDict } from '../nn/state-dict.js';
import { HnfnetError } from '../tensor/errors.js';
import type { SegmentationModel } from '../hnfnet/build.js';
import { validateConfig, type ModelConfig } from '../hnfnet/config.js';
import type { TrainConfig } from './config.js';
import { CONFIG_KEY, weightsMetadata } from '../hnfnet/weights.js';

export class CheckpointError extends HnfnetError {
  override name = 'CheckpointError';
  override readonly code = 'CHECKPOINT';
}

/** Mean Dice per region on the validation cases, as stored with a "best" checkpoint and in logs. */
export interface ValidationResult {
  epoch: number;
  step: number;
  dice: { WT: number; TC: number; ET: number };
  /** Mean of the three. */
  mean: number;
  cases: number;
  seconds: number;
}

export interface WeightsInfo {
  config: ModelConfig;
  preset: string;
  runId: string;
  step: number;
  epoch: number;
  kind: 'last' | 'best' | 'weights';
  validation: ValidationResult | null;
}

export interface TrainState {
  runId: string;
  /** Optimizer steps done. */
  step: number;
  /** Whole epochs done (⌊step / stepsPerEpoch⌋). */
  epoch: number;
  stepsPerEpoch: number;
  best: ValidationResult | null;
  /** Generator states to restore (the tensor library's global generator: spare normal as null). */
  rng: { tensorGenerator: (number | null)[] };
  config: TrainConfig;
  /** Case ids trained and validated on (a resume checks it sees the same data). */
  cases: { train: string[]; val: string[] };
}

function num(meta: Record<string, string>, key: string, source: string): number {
  const v = Number(meta[key]);
  if (meta[key] === undefined || !Number.isFinite(v)) throw new CheckpointError(`${source}: metadata "${key}" is missing or not a number`);
  return v;
}

function json<T>(meta: Record<string, string>, key: string, source: string): T {
  const text = meta[key];
  if (text === undefined) throw new CheckpointError(`${source}: metadata "${key}" is missing`);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new CheckpointError(`${source}: metadata "${key}" is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Reads every parameter and buffer and encodes them with the metadata above. */
export async function encodeWeights(model: SegmentationModel, info: Omit<WeightsInfo, 'config'> & { config?: ModelConfig }): Promise<Uint8Array> {
  const meta: Record<string, string> = {
    ...weightsMetadata(info.config ?? model.config, info.preset),
    hnfnet_run: info.runId,
    hnfnet_step: String(info.step),
    hnfnet_epoch: String(info.epoch),
    hnfnet_kind: info.kind,
  };
  if (info.validation) meta.hnfnet_val = JSON.stringify(info.validation);
  return saveStateDict(model, meta);
}

/** The metadata of a weights file (checks that it is complete safetensors). */
export function readWeightsInfo(bytes: Uint8Array, source = 'weights file'): WeightsInfo {
  const { metadata: m } = decodeSafetensors(bytes, source);
  if (m[CONFIG_KEY] === undefined) throw new CheckpointError(`${source}: no "${CONFIG_KEY}" in the metadata, so the model cannot be rebuilt from this file alone`);
  const config = json<ModelConfig>(m, CONFIG_KEY, source);
  try {
    validateConfig(config);
  } catch (e) {
    throw new CheckpointError(`${source}: hnfnet_config is not a valid model configuration (${e instanceof Error ? e.message : String(e)})`);
  }
  const kind = m.hnfnet_kind === 'last' || m.hnfnet_kind === 'best' ? m.hnfnet_kind : 'weights';
  return {
    config,
    preset: m.hnfnet_preset ?? 'custom',
    runId: m.hnfnet_run ?? '',
    step: m.hnfnet_step === undefined ? 0 : num(m, 'hnfnet_step', source),
    epoch: m.hnfnet_epoch === undefined ? 0 : num(m, 'hnfnet_epoch', source),
    kind,
    validation: m.hnfnet_val === undefined ? null : json<ValidationResult>(m, 'hnfnet_val', source),
  };
}

/** Adam's state plus the training state, as one safetensors file. */
export async function encodeTrainState(optimizer: Adam, state: TrainState): Promise<Uint8Array> {
  const { tensors, metadata } = decodeSafetensors(await optimizer.saveState(), 'optimizer state');
  return encodeSafetensors(tensors, {
    ...metadata,
    hnfnet_run: state.runId,
    hnfnet_step: String(state.step),
    hnfnet_train: JSON.stringify(state),
  });
}

/** The training state in a `encodeTrainState` file (checks that the file is complete). */
export function decodeTrainState(bytes: Uint8Array, source = 'training state'): TrainState {
  const { metadata } = decodeSafetensors(bytes, source);
  if (metadata.format !== 'hnfnet-adam') throw new CheckpointError(`${source}: not an hnfnet training state (metadata format "${metadata.format ?? ''}")`);
  const s = json<TrainState>(metadata, 'hnfnet_train', source);
  if (!(Number.isInteger(s.step) && s.step >= 0) || typeof s.runId !== 'string' || typeof s.config !== 'object') {
    throw new CheckpointError(`${source}: hnfnet_train is incomplete (step ${String(s.step)}, run ${String(s.runId)})`);
  }
  if (num(metadata, 'hnfnet_step', source) !== s.step) throw new CheckpointError(`${source}: step ${metadata.hnfnet_step} in the header disagrees with ${s.step} in hnfnet_train`);
  return s;
}

/** Throws unless the weights and the training state were written together. */
export function checkPair(w: WeightsInfo, s: TrainState, source = 'checkpoint'): void {
  if (w.runId !== s.runId || w.step !== s.step) {
    throw new CheckpointError(`${source}: the weights (run ${w.runId}, step ${w.step}) and the training state (run ${s.runId}, step ${s.step}) are not from the same checkpoint`);
  }
}
