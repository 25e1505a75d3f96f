/** The one entry that makes a model from a preset name or a configuration. */
import type { Device } from '../tensor/device.js';
import { Generator } from '../tensor/random.js';
import type { BuildContext } from './blocks.js';
import { presetConfig, validateConfig, type HnfnetConfig, type ModelConfig, type PresetName, type UNet3dConfig } from './config.js';
import { HNFNet, type ActivationCheckpointing } from './model.js';
import { HnfnetError } from '../tensor/errors.js';
import { UNet3d } from './unet3d.js';

export type SegmentationModel = HNFNet | UNet3d;

export interface BuildOptions {
  /** Seeds every initial weight and the EM bases (default 0): the same seed gives the same model. */
  seed?: number;
  device?: Device;
  /** Activation checkpointing in training (HNF-Net family only; default 'none'): see HNFNet.setActivationCheckpointing. */
  activationCheckpointing?: ActivationCheckpointing;
}

export function buildModel(spec: 'unet3d' | UNet3dConfig, opts?: BuildOptions): UNet3d;
export function buildModel(spec: Exclude<PresetName, 'unet3d'> | HnfnetConfig, opts?: BuildOptions): HNFNet;
export function buildModel(spec: string | ModelConfig, opts?: BuildOptions): SegmentationModel;
export function buildModel(spec: string | ModelConfig, opts: BuildOptions = {}): SegmentationModel {
  const cfg = typeof spec === 'string' ? presetConfig(spec) : structuredClone(spec);
  validateConfig(cfg);
  const ctx: BuildContext = { generator: new Generator(opts.seed ?? 0), norm: cfg.norm, ...(opts.device ? { device: opts.device } : {}) };
  const ckpt = opts.activationCheckpointing ?? 'none';
  if (cfg.kind === 'unet3d' && ckpt !== 'none') throw new HnfnetError(`activation checkpointing "${ckpt}": the 3D U-Net has no PMF modules (only "none")`);
  const model = cfg.kind === 'unet3d' ? new UNet3d(ctx, cfg) : new HNFNet(ctx, cfg).setActivationCheckpointing(ckpt);
  // Parameters carry their dotted names, so optimizer and kernel errors can name them.
  for (const [name, t] of model.namedParameters()) t.name = name;
  return model;
}
