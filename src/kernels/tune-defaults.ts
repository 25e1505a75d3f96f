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

/**
 * conv3d rows (along W) of at most this many outputs: the CPU class's first default
 * tiles 16 voxels of a row per invocation, and on such rows computes at least half of
 * them for nothing.
 */
export const NARROW_ROW = 8;

/**
 * Defaults tried before SHIPPED_DEFAULTS for a conv3d forward or dgrad pass whose rows are
 * narrow (the deep levels of a U-Net): 8 voxels × 16 channels in workgroups of 8, which ran
 * 1.2-3.8x the 16-voxel default on 36 of the 40 such passes of hnfnetv2 at 64³ on lavapipe
 * (docs/PERFORMANCE.md). Same sums in the same order, so the same outputs bit for bit.
 */
export const NARROW_ROW_DEFAULTS: Readonly<Record<AdapterClass, Readonly<Partial<Record<TunedOp, readonly string[]>>>>> = {
  cpu: { conv3d: ['tiled-8x16-wg8-sg8'] },
  gpu: {},
};

/** The first of the adapter class's defaults for `op` that `offered` names (undefined: none is); `narrow` rows try NARROW_ROW_DEFAULTS first. */
export function shippedDefault(device: Device, op: TunedOp, offered: readonly string[], narrow = false): string | undefined {
  const cls = adapterClass(device);
  const list = [...(narrow ? (NARROW_ROW_DEFAULTS[cls][op] ?? []) : []), ...SHIPPED_DEFAULTS[cls][op]];
  return list.find((name) => offered.includes(name));
}
