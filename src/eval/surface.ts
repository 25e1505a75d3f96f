import type { Shape3 } from './masks.js';

/**
 * The surface of a binary mask: its voxels with at least one 6-connected neighbour outside
 * the mask, where neighbours beyond the volume border count as outside. That is medpy's and
 * the BraTS scripts' `mask ^ binary_erosion(mask, cross)` with scipy's default border value
 * 0, so a mask touching the border of the volume has a surface there.
 */
export function surface(mask: Uint8Array, shape: Shape3): Uint8Array {
  const [D, H, W] = shape;
  const plane = H * W;
  const out = new Uint8Array(mask.length);
  for (let d = 0; d < D; d++) {
    for (let h = 0; h < H; h++) {
      const row = d * plane + h * W;
      for (let w = 0; w < W; w++) {
        const i = row + w;
        if (mask[i] === 0) continue;
        if (
          w === 0 || w === W - 1 || h === 0 || h === H - 1 || d === 0 || d === D - 1 ||
          mask[i - 1] === 0 || mask[i + 1] === 0 ||
          mask[i - W] === 0 || mask[i + W] === 0 ||
          mask[i - plane] === 0 || mask[i + plane] === 0
        ) {
          out[i] = 1;
        }
      }
    }
  }
  return out;
}
