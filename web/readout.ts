/**
 * The line under the viewer that says what the crosshair's voxel holds: the shown image's
 * value, the predicted and the reference label, and the network's probabilities of WT, TC and
 * ET there (before thresholding and post-processing, so they explain a label or its absence).
 */
import { REGIONS } from '../src/data/regions.js';
import type { Dims3 } from '../src/data/volume.js';
import type { Voxel } from './case-view.js';
import { h } from './dom.js';
import { LABEL_NAMES } from './viewer.js';

export interface ReadoutSource {
  dims: Dims3;
  /** The shown image's name and its voxels. */
  imageName: string;
  image: Float32Array;
  prediction: Uint8Array | null;
  reference: Uint8Array | null;
  /** [3, Z, Y, X]: WT, TC, ET on the case's grid, as segmentCase keeps them. */
  probabilities: Float32Array | null;
}

/** The readout's nodes for voxel `v` (rounded), or null when it lies outside the grid. */
export function readoutNodes(s: ReadoutSource, v: Voxel): (Node | string)[] | null {
  const [X, Y, Z] = s.dims;
  const [x, y, z] = v.map(Math.round) as [number, number, number];
  if (x < 0 || y < 0 || z < 0 || x >= X || y >= Y || z >= Z) return null;
  const i = x + X * (y + Y * z);
  const name = (labels: Uint8Array) => LABEL_NAMES[labels[i]!] ?? 'background';
  const parts: (Node | string)[] = [h('span', { 'data-voxel': `${x},${y},${z}` }, `voxel (${x}, ${y}, ${z})`), `${s.imageName} ${formatValue(s.image[i]!)}`];
  if (s.prediction) parts.push(`prediction: ${name(s.prediction)}`);
  if (s.reference) parts.push(`reference: ${name(s.reference)}`);
  const p = s.probabilities;
  if (p) {
    const n = X * Y * Z;
    parts.push(h('span', {}, 'p ', ...REGIONS.flatMap((r, k) => [k ? ', ' : '', h('span', { [`data-prob-${r.toLowerCase()}`]: String(p[k * n + i]!) }, `${r} ${p[k * n + i]!.toFixed(3)}`)])));
  }
  return parts.flatMap((part, k) => (k ? [' · ', part] : [part]));
}

/** An image value for the readout: raw intensities are integers, normalised ones small floats. */
function formatValue(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}
