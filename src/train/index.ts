/** Training: loss, schedule, trainer and loop, configuration, splits, checkpoints, validation, curves. Browser-safe; run folders are in index.node.ts. */
export { Trainer, NonFiniteLossError, nativeOutputs, type TrainBatch, type StepRecord, type TrainerOptions } from './trainer.js';
export { trainLoop, type BatchSource, type LoopOptions, type LoopResult } from './loop.js';
export { segmentationLoss, DEFAULT_SEG_LOSS, type SegLoss, type SegLossConfig } from './loss.js';
export { learningRate, warmupFactor, polyFactor, type ScheduleConfig } from './schedule.js';
export { DEFAULT_TRAIN_CONFIG, resolveTrainConfig, validateTrainConfig, type TrainConfig } from './config.js';
export { kFoldAssignment, foldPartition, parseSplitFile, foldsFromSplit } from './splits.js';
export { encodeWeights, readWeightsInfo, encodeTrainState, decodeTrainState, CheckpointError, type TrainState, type WeightsInfo } from './checkpoint.js';
export { validateCases, type ValidationOptions } from './validate.js';
