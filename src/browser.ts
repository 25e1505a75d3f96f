/** hnfnet's public entry for browsers: WebGPU comes from navigator.gpu (or is handed in). */
export * from './core.js';
