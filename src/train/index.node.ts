/** src/train for Node: the browser-safe API plus training runs in a folder (checkpoints, log, lock), their curves, and the quick start (train, segment, evaluate). */
export * from './index.js';
export { runTraining, RESUME_MUTABLE, type TrainRunOptions, type TrainRunResult } from './run.node.js';
export { runCurves, curvesSummary, type RunCurves } from './run-curves.node.js';
export { runQuickStart, type QuickStartOptions, type QuickStartReporter, type QuickStartResult, type QuickStartStage } from './quickstart.node.js';
