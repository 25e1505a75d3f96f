export * from './unary.js';
export * from './broadcast.js';
export * from './reduce.js';
export * from './softmax.js';
export * from './matmul.js';
export * from './concat.js';
