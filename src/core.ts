/** Everything that runs unchanged in a browser and in Node. */
export * from './tensor/index.js';
export * from './kernels/index.js';
