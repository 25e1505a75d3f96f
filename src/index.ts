/**
 * hnfnet's public entry for Node: the portable core, with Dawn (npm `webgpu`) registered
 * as the WebGPU implementation. Browsers use `src/browser.ts`, which leaves Dawn out.
 */
import './tensor/device.node.js';
// The tuning cache's file (tensor/tuner.ts keeps its results there).
export { tuneCachePath, fileTuneStore } from './tensor/tune-store.node.js';
export * from './core.js';
// Node additions of the data pipeline: paths, case folders, worker-thread loaders.
export * from './data/index.node.js';
// Segmentation from weights files to NIfTI files, case by case over a data set.
export * from './infer/index.node.js';
// Training runs in a folder: checkpoints, the log, the run lock.
export * from './train/index.node.js';
