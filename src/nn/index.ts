export { Module, observeCalls, type CallObserver } from './module.js';
export { defaultUniform, kaimingNormal, constant, type InitScheme, type InitOptions } from './init.js';
export { Conv3d, triple, type Conv3dOptions, type Triple } from './layers/conv.js';
export { InstanceNorm3d, type InstanceNormOptions, type NormEpilogue } from './layers/norm.js';
export { ReLU, LeakyReLU, Sigmoid } from './layers/activation.js';
export { Sequential, ModuleList, Identity } from './layers/container.js';
export { encodeSafetensors, decodeSafetensors, SafetensorsError, type SafeTensor, type SafeDType } from './safetensors.js';
export { saveStateDict, loadStateDict, StateDictError, type LoadOptions } from './state-dict.js';
export { Adam } from './optim/adam.js';
