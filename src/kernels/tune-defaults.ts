import type { Device } from '../tensor/device.js';

/**
 * The variants hnfnet runs where nothing has been measured (and always with tuning off):
 * per adapter class and op, exactly the choices made before the tuner existed, so turning
 * tuning off changes nothing. Names are candidates' names (conv3d-candidates.ts, matmul.ts).
 */
export type AdapterClass = 'cpu' | 'gpu';

/** Software rasterisers (llvmpipe/lavapipe, SwiftShader) pay per load, not per register; see conv3d-tiled.ts. */
export function adapterClass(device: Device): AdapterClass {
  return /llvmpipe|lavapipe|swiftshader/i.test(device.adapterInfo) ? 'cpu' : 'gpu';
}

export const SHIPPED_DEFAULTS: Readonly<Record<AdapterClass, Readonly<Record<'conv3d' | 'bmm', string>>>> = {
  cpu: { conv3d: 'tiled-cpu', bmm: 'bmm-4x4-wg8' },
  gpu: { conv3d: 'tiled-gpu', bmm: 'bmm-4x4-wg8' },
};

export function shippedDefault(device: Device, op: 'conv3d' | 'bmm'): string {
  return SHIPPED_DEFAULTS[adapterClass(device)][op];
}
