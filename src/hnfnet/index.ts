/** The model family: HNF-Net, HNF-Netv2 and the 3D U-Net from one configurable builder, their counts and weights files. */
export {
  PRESET_NAMES,
  PAPER_TABLE1,
  isPresetName,
  presetConfig,
  validateConfig,
  sizeMultiple,
  inputStride,
  type PresetName,
  type ModelConfig,
  type HnfnetConfig,
  type UNet3dConfig,
  type NormConfig,
} from './config.js';
export { ConvNormAct, ResidualBlock, type BuildContext } from './blocks.js';
export { IntraScaleSDE, InterScaleSDE } from './sde.js';
export { PMF, FuseTarget, FuseUp } from './pmf.js';
export { EMAUnit, type EMAUnitOptions } from './ema-unit.js';
export { HNFNet, ACTIVATION_CHECKPOINTING, type ActivationCheckpointing } from './model.js';
export { UNet3d } from './unet3d.js';
export { checkInputShape } from './input.js';
export { buildModel, type BuildOptions, type SegmentationModel } from './build.js';
export { countModel, type ModelCount, type ModuleCount } from './flops.js';
export { loadModelFromWeights, saveWeights, weightsConfig, weightsMetadata, CONFIG_KEY, PRESET_KEY } from './weights.js';
