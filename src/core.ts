/**
 * Everything that runs unchanged in a browser and in Node: the runtime, kernels, modules,
 * the model family, its inference and training, the data pipeline. Evaluation is under `evaluation`
 * (its `mean` would shadow the kernels'); its main entry points are also exported by name.
 */
export * from './tensor/index.js';
export * from './kernels/index.js';
export * from './nn/index.js';
export * from './hnfnet/index.js';
export * from './infer/index.js';
export * from './train/index.js';
export * from './data/index.js';
export * as evaluation from './eval/index.js';
export { dice, hd95, evaluateRegions, aggregate, type CaseMetrics, type RegionMetrics } from './eval/index.js';
