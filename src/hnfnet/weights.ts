/**
 * A weights file is self-describing: the safetensors metadata holds the model configuration
 * (`hnfnet_config`, JSON) and the preset name (`hnfnet_preset`), so inference and the demo
 * rebuild the right model from the file alone.
 */
import { decodeSafetensors } from '../nn/safetensors.js';
import { loadStateDict, saveStateDict } from '../nn/state-dict.js';
import type { Device } from '../tensor/device.js';
import { HnfnetError } from '../tensor/errors.js';
import { buildModel, type SegmentationModel } from './build.js';
import { presetConfig, type ModelConfig } from './config.js';
import { REGIONS, type Region } from '../data/regions.js';

export const CONFIG_KEY = 'hnfnet_config';
export const PRESET_KEY = 'hnfnet_preset';
/** The post-processing chosen on the cross-validation (scripts/decide-postprocessing.ts): regions, comma-separated. */
export const KEEP_LARGEST_KEY = 'hnfnet_keep_largest';

export function weightsMetadata(config: ModelConfig, preset?: string): Record<string, string> {
  return { [CONFIG_KEY]: JSON.stringify(config), ...(preset ? { [PRESET_KEY]: preset } : {}), format: 'pt' };
}

/** Serialises a model with its configuration. */
export async function saveWeights(model: SegmentationModel, config: ModelConfig, preset?: string): Promise<Uint8Array> {
  return saveStateDict(model, weightsMetadata(config, preset));
}

/** The configuration stored in a weights file (or the given fallback preset). */
export function weightsConfig(bytes: Uint8Array, source: string, fallbackPreset?: string): { config: ModelConfig; preset: string | null } {
  const { metadata } = decodeSafetensors(bytes, source);
  if (metadata.format === 'hnfnet-adam') {
    throw new HnfnetError(`${source} is a training state (optimizer moments and run state), not model weights; the weights are in the *.safetensors next to it without ".train" (e.g. last.safetensors)`);
  }
  const preset = metadata[PRESET_KEY] ?? null;
  if (metadata[CONFIG_KEY]) {
    try {
      return { config: JSON.parse(metadata[CONFIG_KEY]) as ModelConfig, preset };
    } catch {
      throw new HnfnetError(`${source}: metadata "${CONFIG_KEY}" is not valid JSON`);
    }
  }
  if (preset) return { config: presetConfig(preset), preset };
  if (fallbackPreset) return { config: presetConfig(fallbackPreset), preset: fallbackPreset };
  throw new HnfnetError(`${source} does not say which model it holds (no "${CONFIG_KEY}" or "${PRESET_KEY}" metadata); name the preset (--preset)`);
}

/**
 * The keep-largest regions a weights file recommends (nnU-Net's post-processing, decided on its
 * cross-validation), or null where the file says nothing. An unknown region is an error: a
 * file that asks for a post-processing this version cannot do should not be half applied.
 */
export function weightsKeepLargest(bytes: Uint8Array, source: string): Region[] | null {
  const v = decodeSafetensors(bytes, source).metadata[KEEP_LARGEST_KEY];
  if (v === undefined) return null;
  const out: Region[] = [];
  for (const r of v.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    if (!(REGIONS as readonly string[]).includes(r)) throw new HnfnetError(`${source}: metadata "${KEEP_LARGEST_KEY}" names "${r}", not one of ${REGIONS.join(', ')}`);
    out.push(r as Region);
  }
  return out;
}

/** Builds the model a weights file describes and loads the weights (in eval mode). */
export function loadModelFromWeights(bytes: Uint8Array, source: string, opts: { device?: Device; fallbackPreset?: string } = {}): { model: SegmentationModel; config: ModelConfig; preset: string | null } {
  const { config, preset } = weightsConfig(bytes, source, opts.fallbackPreset);
  const model = buildModel(config, opts.device ? { device: opts.device } : {});
  try {
    loadStateDict(model, bytes, { source });
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return { model, config, preset };
}
