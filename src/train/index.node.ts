/** src/train for Node: the browser-safe API plus training runs in a folder (checkpoints, log, lock). */
export * from './index.js';
export { runTraining, RESUME_MUTABLE, type TrainRunOptions, type TrainRunResult } from './run.node.js';
