export {
  PRESET_NAMES,
  PAPER_TABLE1,
  isPresetName,
  presetConfig,
  validateConfig,
  sizeMultiple,
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
export { HNFNet } from './model.js';
export { UNet3d } from './unet3d.js';
export { checkInputShape } from './input.js';
export { buildModel, type BuildOptions, type SegmentationModel } from './build.js';
export { countModel, type ModelCount, type ModuleCount } from './flops.js';
export * from './sliding-window.js';
export * from './postprocess.js';
export * from './keep-largest.js';
export * from './keep-largest-decision.js';
export { segmentCase, inferenceBox, DEFAULT_CROP, type SegmentOptions, type Segmentation } from './inferencer.js';
export { fittingWindow, largestBufferBytes, windowOptions, WINDOW_CHOICES, type BufferLimits, type WindowOption } from './window-fit.js';
export { loadModelFromWeights, saveWeights, weightsConfig, weightsMetadata, CONFIG_KEY, PRESET_KEY } from './weights.js';
export { Trainer, NonFiniteLossError, type TrainBatch, type StepRecord, type TrainerOptions } from './trainer.js';
export { trainLoop, type BatchSource, type LoopOptions, type LoopResult } from './train-loop.js';
export { segmentationLoss, DEFAULT_SEG_LOSS, type SegLoss, type SegLossConfig } from './loss.js';
export { learningRate, warmupFactor, polyFactor, type ScheduleConfig } from './schedule.js';
export { DEFAULT_TRAIN_CONFIG, resolveTrainConfig, validateTrainConfig, type TrainConfig } from './train-config.js';
export { kFoldAssignment, foldPartition, parseSplitFile, foldsFromSplit } from './splits.js';
export { encodeWeights, readWeightsInfo, encodeTrainState, decodeTrainState, CheckpointError, type TrainState, type WeightsInfo } from './checkpoint.js';
export { validateCases, type ValidationOptions } from './validate.js';
export { renderOverlay, LABEL_COLOURS, type OverlayFigure } from './overlay.js';
