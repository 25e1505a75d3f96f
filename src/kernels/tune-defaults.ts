import type { Device } from '../tensor/device.js';

/**
 * The variants hnfnet runs where nothing has been measured (and always with tuning off):
 * per adapter class and op, an ordered list of candidates' names (conv3d-candidates.ts,
 * matmul.ts); the first one the device offers for the shape runs. A list, because the
 * fastest default may need a feature an adapter lacks (subgroups of 8 lanes): the next
 * entry is what ran before it existed, and gives the same numbers bit for bit.
 */
export type AdapterClass = 'cpu' | 'gpu';

/** Software rasterisers (llvmpipe/lavapipe, SwiftShader) pay per load, not per register; see conv3d-tiled.ts. */
export function adapterClass(device: Device): AdapterClass {
  return /llvmpipe|lavapipe|swiftshader/i.test(device.adapterInfo) ? 'cpu' : 'gpu';
}

export type TunedOp = 'conv3d' | 'bmm';

export const SHIPPED_DEFAULTS: Readonly<Record<AdapterClass, Readonly<Record<TunedOp, readonly string[]>>>> = {
  // The subgroup tiling: 1.5-2.5x the plain CPU tiling per pass on lavapipe (docs/PERFORMANCE.md).
  cpu: { conv3d: ['tiled-16x8-wg16-sg8', 'tiled-cpu'], bmm: ['bmm-4x4-wg8'] },
  gpu: { conv3d: ['tiled-gpu'], bmm: ['bmm-4x4-wg8'] },
};

/** The first of the adapter class's defaults for `op` that `offered` names (undefined: none is). */
export function shippedDefault(device: Device, op: TunedOp, offered: readonly string[]): string | undefined {
  return SHIPPED_DEFAULTS[adapterClass(device)][op].find((name) => offered.includes(name));
}
