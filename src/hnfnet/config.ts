/**
 * Model configurations and the named presets. Every number the paper leaves open is a field
 * here, with the value that reproduces the paper's Table 1 as its preset default (see
 * docs/ARCHITECTURE.md, "Model reconstruction", for how each was chosen).
 */
import { HnfnetError } from '../tensor/errors.js';

/** Normalisation after every convolution. Only instance norm exists in this runtime. */
export interface NormConfig {
  kind: 'instance';
  /** Learnable per-channel scale and shift (they count as parameters). */
  affine: boolean;
  eps: number;
}

/** HNF-Net and its SDE variants. */
export interface HnfnetConfig {
  kind: 'hnfnet';
  inChannels: number;
  /** Region logits (WT, TC, ET). */
  outChannels: number;
  /** Width of the full-scale encoder and decoder ("32 channels at the end"). */
  stemChannels: number;
  /** 3³ conv blocks at full scale before the stride-2 one that enters 1/2 scale. */
  encoderConvs: number;
  /** 3³ conv blocks at full scale after the skip addition, before the 1×1 head. */
  decoderConvs: number;
  /**
   * Branch widths at scales 1/2, 1/4, … One PMF module per entry; PMF k has k branches, so
   * the last branch runs at 1/2^widths.length and inputs must be multiples of that.
   */
  widths: readonly number[];
  /** Residual blocks per branch in each PMF module (one entry per module). */
  blocks: readonly number[];
  /** Squeeze-excitation style re-weighting inside every residual block. */
  intraSde: boolean;
  /** Hidden width of the intra-scale SDE is channels / sdeReduction. */
  sdeReduction: number;
  /** The inter-scale SDE block after the fusion of the second-to-last PMF module. */
  interSde: boolean;
  /** EM bases K. */
  emaBases: number;
  /** EM iterations T. */
  emaStages: number;
  /** Weight of the old bases in the moving average (training mode). */
  emaMomentum: number;
  /** L2-normalise the averaged bases over channels after each moving-average update. */
  emaRenormalize: boolean;
  /**
   * 2 runs the whole network at half resolution: the input is brought down by a 2×2×2 mean
   * (trilinear to half size, which is exactly that mean) and the logits back up trilinearly.
   * 8× cheaper per voxel; training takes its loss at the network's own resolution. Absent
   * (older weights files) means 1.
   */
  inputStride?: 1 | 2;
  norm: NormConfig;
}

/** The 3D U-Net baseline. */
export interface UNet3dConfig {
  kind: 'unet3d';
  inChannels: number;
  outChannels: number;
  /** Width per level, full resolution first; each deeper level is entered by a stride-2 conv. */
  widths: readonly number[];
  /** 3³ conv blocks per level in the encoder and in the decoder. */
  convsPerLevel: number;
  norm: NormConfig;
}

export type ModelConfig = HnfnetConfig | UNet3dConfig;

export const PRESET_NAMES = ['unet3d', 'hnfnet', 'hnfnet-intra', 'hnfnetv2', 'hnfnetv2-web', 'tiny'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

const NORM: NormConfig = { kind: 'instance', affine: true, eps: 1e-5 };

const HNFNET: HnfnetConfig = {
  kind: 'hnfnet',
  inChannels: 4,
  outChannels: 3,
  stemChannels: 32,
  encoderConvs: 1,
  decoderConvs: 2,
  widths: [32, 64, 128, 256],
  blocks: [1, 2, 2, 2],
  intraSde: false,
  sdeReduction: 1,
  interSde: false,
  emaBases: 64,
  emaStages: 3,
  emaMomentum: 0.9,
  emaRenormalize: true,
  norm: NORM,
};

const PRESETS: Record<PresetName, ModelConfig> = {
  unet3d: { kind: 'unet3d', inChannels: 4, outChannels: 3, widths: [48, 96, 192, 464], convsPerLevel: 2, norm: NORM },
  hnfnet: HNFNET,
  'hnfnet-intra': { ...HNFNET, intraSde: true },
  hnfnetv2: { ...HNFNET, intraSde: true, interSde: true },
  // The HNF-Netv2 layout sized for browsers and CPU training (docs/ARCHITECTURE.md, "hnfnetv2-web"):
  // a quarter of the widths, one block per branch, run at 2 mm inside.
  'hnfnetv2-web': { ...HNFNET, stemChannels: 8, widths: [8, 16, 32, 64], blocks: [1, 1, 1, 1], emaBases: 16, intraSde: true, interSde: true, inputStride: 2 },
  // The HNF-Netv2 layout at a width and depth that trains in seconds on a software GPU.
  tiny: { ...HNFNET, stemChannels: 4, widths: [4, 8, 16, 32], blocks: [1, 1, 1, 1], emaBases: 8, intraSde: true, interSde: true },
};

/** Table 1 of the paper (input 128³): what the presets are checked against. */
export const PAPER_TABLE1: Readonly<Record<Exclude<PresetName, 'tiny' | 'hnfnetv2-web'>, { params: number; flops: number }>> = {
  unet3d: { params: 15.8e6, flops: 1240.27e9 },
  hnfnet: { params: 16.85e6, flops: 436.59e9 },
  'hnfnet-intra': { params: 17.31e6, flops: 436.75e9 },
  hnfnetv2: { params: 17.91e6, flops: 449.79e9 },
};

export function isPresetName(s: string): s is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(s);
}

/** A preset's configuration (a fresh copy), optionally with fields overridden. */
export function presetConfig(name: string, overrides: Partial<ModelConfig> = {}): ModelConfig {
  if (!isPresetName(name)) throw new HnfnetError(`unknown model preset "${String(name)}" (known: ${PRESET_NAMES.join(', ')})`);
  const base = structuredClone(PRESETS[name]);
  const cfg = { ...base, ...overrides } as ModelConfig;
  validateConfig(cfg);
  return cfg;
}

function positiveInt(v: unknown, what: string): void {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new HnfnetError(`model config: ${what} must be a positive integer, got ${String(v)}`);
}

export function validateConfig(cfg: ModelConfig): void {
  positiveInt(cfg.inChannels, 'inChannels');
  positiveInt(cfg.outChannels, 'outChannels');
  if (cfg.norm.kind !== 'instance') throw new HnfnetError(`model config: norm.kind "${String(cfg.norm.kind)}" is not supported (only "instance")`);
  if (!(cfg.norm.eps > 0)) throw new HnfnetError(`model config: norm.eps must be positive, got ${cfg.norm.eps}`);
  if (cfg.widths.length < 1) throw new HnfnetError('model config: widths must not be empty');
  cfg.widths.forEach((w, i) => positiveInt(w, `widths[${i}]`));
  if (cfg.kind === 'unet3d') {
    positiveInt(cfg.convsPerLevel, 'convsPerLevel');
    return;
  }
  positiveInt(cfg.stemChannels, 'stemChannels');
  positiveInt(cfg.encoderConvs, 'encoderConvs');
  if (!(Number.isInteger(cfg.decoderConvs) && cfg.decoderConvs >= 0)) throw new HnfnetError(`model config: decoderConvs must be a non-negative integer, got ${cfg.decoderConvs}`);
  if (cfg.blocks.length !== cfg.widths.length) {
    throw new HnfnetError(`model config: blocks has ${cfg.blocks.length} entries but widths has ${cfg.widths.length} (one per PMF module)`);
  }
  cfg.blocks.forEach((b, i) => positiveInt(b, `blocks[${i}]`));
  if (!(cfg.sdeReduction > 0)) throw new HnfnetError(`model config: sdeReduction must be positive, got ${cfg.sdeReduction}`);
  if (cfg.interSde && cfg.widths.length < 2) throw new HnfnetError('model config: interSde needs at least two PMF modules');
  if (cfg.inputStride !== undefined && cfg.inputStride !== 1 && cfg.inputStride !== 2) {
    throw new HnfnetError(`model config: inputStride must be 1 or 2, got ${String(cfg.inputStride)}`);
  }
  positiveInt(cfg.emaBases, 'emaBases');
  positiveInt(cfg.emaStages, 'emaStages');
  if (!(cfg.emaMomentum >= 0 && cfg.emaMomentum <= 1)) throw new HnfnetError(`model config: emaMomentum must be in [0, 1], got ${cfg.emaMomentum}`);
}

/** The factor every spatial side of the input must be a multiple of. */
export function sizeMultiple(cfg: ModelConfig): number {
  return cfg.kind === 'unet3d' ? 2 ** (cfg.widths.length - 1) : 2 ** cfg.widths.length * inputStride(cfg);
}

/** The factor between the input's grid and the grid the network runs on (1 or 2). */
export function inputStride(cfg: ModelConfig): 1 | 2 {
  return cfg.kind === 'hnfnet' ? (cfg.inputStride ?? 1) : 1;
}
