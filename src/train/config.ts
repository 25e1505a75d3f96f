/**
 * Everything a training run is made of, with the paper's recipe (docs/TRAINING.md) as the defaults.
 * A config file holds any subset of these fields (nested as here); the command line overrides
 * it. The resolved configuration is stored in every checkpoint, and a resumed run uses it.
 */
import { DEFAULT_AUGMENT, type AugmentConfig } from '../data/augment.js';
import type { PreprocessOptions } from '../data/preprocess.js';
import { HnfnetError } from '../tensor/errors.js';
import { isPresetName, validateConfig, type ModelConfig } from '../hnfnet/config.js';
import { ACTIVATION_CHECKPOINTING, type ActivationCheckpointing } from '../hnfnet/model.js';
import { DEFAULT_SEG_LOSS, type SegLossConfig } from './loss.js';

export interface TrainConfig {
  /** A preset name, or a full model configuration. */
  model: string | ModelConfig;
  /** Seeds the initial weights, the data order, crops and augmentation. */
  seed: number;
  /**
   * A weights file (.safetensors) of the same model to start from instead of the seeded
   * initialisation (fine-tuning); the optimizer and the schedule start afresh. null: none.
   */
  pretrained: string | null;
  /**
   * Where cases come from: `phantom:N` (N generated phantoms) or a folder of BraTS case folders.
   * Part of the configuration so that a resumed run reads the same data.
   */
  data: {
    source: string;
    /** Edge of generated phantoms (before brain cropping). */
    phantomSize: number;
    /** Share of patches centred on a tumour voxel. */
    foregroundProb: number;
    /** null: no augmentation. */
    augment: AugmentConfig | null;
    preprocess: PreprocessOptions;
  };
  epochs: number;
  /** Optimizer steps per epoch; null means ⌈training cases / batch⌉. */
  stepsPerEpoch: number | null;
  /** Samples per optimizer step. */
  batch: number;
  /**
   * Micro-batches per step (gradient accumulation, for memory): batch/accumulate samples go
   * through the network at a time, their gradients are summed, the loss is scaled by
   * 1/accumulate so the update equals the full batch's.
   */
  accumulate: number;
  /**
   * Activation checkpointing (memory, not results): 'pmf' keeps only each PMF module's inputs
   * for backward and computes the module again there (HNF-Net family only): for hnfnetv2 at
   * 64³ a third less of a step's peak memory (docs/TRAINING.md), for one more forward of the
   * PMF modules.
   */
  activationCheckpointing: ActivationCheckpointing;
  /** Patch size [x, y, z] (a number in files and flags means a cube). */
  patch: [number, number, number];
  optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number };
  schedule: { warmupEpochs: number; power: number; perStep: boolean };
  loss: SegLossConfig;
  folds: {
    count: number;
    /** The held-out fold (0-based); null trains on every case and validates on none. */
    fold: number | null;
    /** Seed of the case shuffle that assigns folds (ignored with a split file). */
    seed: number;
    /** A MONAI-style split file (`{"training": [{"fold": k, "image": […]}, …]}`), or null. */
    splitFile: string | null;
  };
  validation: {
    /** Validate after every this many epochs (and after the last). */
    every: number;
    /** Sliding window side, or [x, y, z]; null uses the patch size. */
    window: [number, number, number] | null;
    overlap: number;
    /** 1 (none) or 8 (identity and the 7 flip combinations). */
    tta: 1 | 8;
    threshold: number;
    /** Validate on at most this many held-out cases (the first ones); null for all. */
    maxCases: number | null;
  };
  checkpoint: {
    /** Write `last` after every this many epochs (and after the last, and when stopped). */
    every: number;
  };
}

export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze({
  model: 'hnfnetv2',
  seed: 0,
  pretrained: null,
  data: { source: 'phantom:16', phantomSize: 64, foregroundProb: 1 / 3, augment: structuredClone(DEFAULT_AUGMENT) as AugmentConfig, preprocess: {} },
  epochs: 250,
  stepsPerEpoch: null,
  batch: 4,
  accumulate: 1,
  activationCheckpointing: 'none',
  patch: [128, 128, 128],
  optimizer: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-5 },
  schedule: { warmupEpochs: 5, power: 0.9, perStep: true },
  loss: { ...DEFAULT_SEG_LOSS },
  folds: { count: 5, fold: null, seed: 0, splitFile: null },
  validation: { every: 5, window: null, overlap: 0.25, tta: 1, threshold: 0.5, maxCases: null },
  checkpoint: { every: 1 },
} satisfies TrainConfig) as Readonly<TrainConfig>;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Deep-merges `over` into `base` (objects merge key by key, everything else replaces), and
 * rejects keys the base does not have, so a typo in a config file is an error. `model` and
 * `data.preprocess` replace whole (a model config is complete in itself; preprocess options
 * are all optional).
 */
function merge(base: unknown, over: unknown, path: string): unknown {
  // Augmentation may have been switched off (null) by an earlier layer; a partial object turns it back on from the defaults.
  if (path === 'data.augment' && isPlainObject(over) && !isPlainObject(base)) base = DEFAULT_AUGMENT;
  if (!isPlainObject(over) || !isPlainObject(base) || path === 'model' || path === 'data.preprocess') return structuredClone(over);
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in base)) throw new HnfnetError(`training config: unknown key "${p}" (known here: ${Object.keys(base).join(', ')})`);
    out[k] = v === undefined ? out[k] : merge(base[k], v, p);
  }
  return out;
}

/** The defaults with each layer of overrides applied in order (file, then command line). */
export function resolveTrainConfig(...layers: readonly unknown[]): TrainConfig {
  let cfg: unknown = structuredClone(DEFAULT_TRAIN_CONFIG);
  for (const layer of layers) {
    if (layer === undefined) continue;
    if (!isPlainObject(layer)) throw new HnfnetError('training config: expected a JSON object');
    cfg = merge(cfg, layer, '');
  }
  const c = cfg as TrainConfig;
  // Files and flags may give a cube's side as one number.
  const cube = (v: unknown): unknown => (typeof v === 'number' ? [v, v, v] : v);
  c.patch = cube(c.patch) as TrainConfig['patch'];
  c.validation.window = cube(c.validation.window) as TrainConfig['validation']['window'];
  validateTrainConfig(c);
  return c;
}

function fail(msg: string): never {
  throw new HnfnetError(`training config: ${msg}`);
}

function posInt(v: unknown, what: string): void {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) fail(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
}

function finiteIn(v: unknown, what: string, lo: number, hi: number, loOpen = false, hiOpen = false): void {
  const ok = typeof v === 'number' && Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) fail(`${what} must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${JSON.stringify(v)}`);
}

export function validateTrainConfig(c: TrainConfig): void {
  if (typeof c.model === 'string') {
    if (!isPresetName(c.model)) fail(`unknown model preset "${c.model}"`);
  } else validateConfig(c.model);
  finiteIn(c.seed, 'seed', 0, 2 ** 53);
  if (c.pretrained !== null && !(typeof c.pretrained === 'string' && c.pretrained !== '')) fail(`pretrained must be a weights file's path or null, got ${JSON.stringify(c.pretrained)}`);
  if (typeof c.data.source !== 'string' || c.data.source === '') fail('data.source must be "phantom:N" or a folder');
  posInt(c.data.phantomSize, 'data.phantomSize');
  finiteIn(c.data.foregroundProb, 'data.foregroundProb', 0, 1);
  posInt(c.epochs, 'epochs');
  if (c.stepsPerEpoch !== null) posInt(c.stepsPerEpoch, 'stepsPerEpoch');
  posInt(c.batch, 'batch');
  posInt(c.accumulate, 'accumulate');
  if (!ACTIVATION_CHECKPOINTING.includes(c.activationCheckpointing)) fail(`activationCheckpointing must be ${ACTIVATION_CHECKPOINTING.map((m) => `"${m}"`).join(' or ')}, got ${JSON.stringify(c.activationCheckpointing)}`);
  if (c.activationCheckpointing !== 'none' && (typeof c.model === 'string' ? c.model === 'unet3d' : c.model.kind === 'unet3d')) fail(`activationCheckpointing "${c.activationCheckpointing}": the 3D U-Net has no PMF modules (only "none")`);
  if (c.batch % c.accumulate !== 0) fail(`batch ${c.batch} must be a multiple of accumulate ${c.accumulate} (equal micro-batches keep the update that of the full batch)`);
  if (!(Array.isArray(c.patch) && c.patch.length === 3)) fail(`patch must be a number or [x, y, z], got ${JSON.stringify(c.patch)}`);
  c.patch.forEach((s, i) => posInt(s, `patch[${i}]`));
  finiteIn(c.optimizer.lr, 'optimizer.lr', 0, Infinity);
  if (!(Array.isArray(c.optimizer.betas) && c.optimizer.betas.length === 2)) fail('optimizer.betas must be a pair');
  c.optimizer.betas.forEach((b, i) => finiteIn(b, `optimizer.betas[${i}]`, 0, 1, false, true));
  finiteIn(c.optimizer.eps, 'optimizer.eps', 0, Infinity);
  finiteIn(c.optimizer.weightDecay, 'optimizer.weightDecay', 0, Infinity);
  finiteIn(c.schedule.warmupEpochs, 'schedule.warmupEpochs', 0, Infinity);
  finiteIn(c.schedule.power, 'schedule.power', 0, Infinity);
  if (typeof c.schedule.perStep !== 'boolean') fail('schedule.perStep must be true or false');
  finiteIn(c.loss.diceWeight, 'loss.diceWeight', 0, Infinity);
  finiteIn(c.loss.bceWeight, 'loss.bceWeight', 0, Infinity);
  if (!['square', 'simple', 'uniform'].includes(c.loss.diceWType)) fail(`loss.diceWType must be square, simple or uniform, got ${JSON.stringify(c.loss.diceWType)}`);
  finiteIn(c.loss.smooth, 'loss.smooth', 0, Infinity);
  posInt(c.folds.count, 'folds.count');
  if (c.folds.count < 2) fail('folds.count must be at least 2');
  if (c.folds.fold !== null) {
    if (!(Number.isInteger(c.folds.fold) && c.folds.fold >= 0 && c.folds.fold < c.folds.count)) fail(`folds.fold must be an integer in [0, ${c.folds.count - 1}] or null, got ${JSON.stringify(c.folds.fold)}`);
  }
  finiteIn(c.folds.seed, 'folds.seed', 0, 2 ** 53);
  posInt(c.validation.every, 'validation.every');
  if (c.validation.window !== null) {
    if (!(Array.isArray(c.validation.window) && c.validation.window.length === 3)) fail('validation.window must be a number, [x, y, z] or null');
    c.validation.window.forEach((s, i) => posInt(s, `validation.window[${i}]`));
  }
  finiteIn(c.validation.overlap, 'validation.overlap', 0, 1, false, true);
  if (c.validation.tta !== 1 && c.validation.tta !== 8) fail(`validation.tta must be 1 or 8, got ${JSON.stringify(c.validation.tta)}`);
  finiteIn(c.validation.threshold, 'validation.threshold', 0, 1);
  if (c.validation.maxCases !== null) posInt(c.validation.maxCases, 'validation.maxCases');
  posInt(c.checkpoint.every, 'checkpoint.every');
}

/** The model configuration a TrainConfig names, and the preset name ('custom' for a full config). */
export function modelSpec(c: TrainConfig): { preset: string; spec: string | ModelConfig } {
  return typeof c.model === 'string' ? { preset: c.model, spec: c.model } : { preset: 'custom', spec: c.model };
}

/** Dotted paths whose values differ between two configurations (for a resume that changes settings). */
export function configDifferences(a: unknown, b: unknown, path = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => configDifferences(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path || '(root)'];
}

/**
 * Sets one dotted path from a command-line string (`optimizer.lr=3e-4`, `validation.window=[64,64,64]`):
 * the text is read as JSON where it parses, as a string otherwise.
 */
export function overrideFromAssignment(text: string): Record<string, unknown> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new HnfnetError(`training config: expected key=value, got "${text}"`);
  const path = text.slice(0, eq).split('.');
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const out: Record<string, unknown> = {};
  let cur = out;
  path.forEach((k, i) => {
    if (i === path.length - 1) cur[k] = value;
    else cur = (cur[k] = {}) as Record<string, unknown>;
  });
  return out;
}
