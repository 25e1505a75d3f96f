import { checkShape, checkSpacing } from './masks.js';
import type { Shape3, Spacing3 } from './masks.js';

/**
 * Exact Euclidean distance transform by Felzenszwalb & Huttenlocher ("Distance Transforms of
 * Sampled Functions", 2012): the squared distance separates into one 1D lower-envelope pass
 * per axis, so the whole transform is O(voxels) regardless of how far the features are.
 */

/**
 * Lines along D and H are strided in memory, so they are processed BLOCK neighbours along W at
 * a time: gathering a block reads whole cache lines instead of one double per line.
 */
const BLOCK = 8;

/** Scratch buffers for the 1D passes, reused across blocks. */
interface Scratch {
  f: Float64Array;
  d: Float64Array;
  /** Roots of the parabolas on the envelope, left to right. */
  v: Int32Array;
  /** z[k]..z[k+1] is where parabola k is lowest. */
  z: Float64Array;
  /** f[v[k]] + s²·v[k]², kept so that each intersection costs one subtraction. */
  hv: Float64Array;
}

function scratch(n: number): Scratch {
  return {
    f: new Float64Array(BLOCK * n),
    d: new Float64Array(BLOCK * n),
    v: new Int32Array(n),
    z: new Float64Array(n + 1),
    hv: new Float64Array(n),
  };
}

/**
 * d[o + p] = min_q s2·(p − q)² + f[o + q] over q in [0, n). Samples with f = ∞ carry no parabola
 * and are skipped, so a line without features stays ∞ (the classic version computes ∞ − ∞).
 */
function envelope1d(n: number, s2: number, o: number, sc: Scratch): void {
  const { f, d, v, z, hv } = sc;
  let k = -1;
  const inv = 1 / (2 * s2);
  for (let q = 0; q < n; q++) {
    const fq = f[o + q]!;
    if (fq === Infinity) continue;
    const hq = fq + s2 * q * q;
    if (k < 0) {
      k = 0;
      v[0] = q;
      hv[0] = hq;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    let s = 0;
    for (;;) {
      // Where the parabola rooted at q overtakes the one rooted at v[k]; if that lies left of
      // where v[k] took over, v[k] is never lowest and leaves the envelope.
      s = ((hq - hv[k]!) * inv) / (q - v[k]!);
      if (s > z[k]!) break;
      k--;
    }
    k++;
    v[k] = q;
    hv[k] = hq;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    d.fill(Infinity, o, o + n);
    return;
  }
  k = 0;
  let zn = z[1]!;
  let p = v[0]!;
  let fp = f[o + p]!;
  for (let q = 0; q < n; q++) {
    while (zn < q) {
      k++;
      zn = z[k + 1]!;
      p = v[k]!;
      fp = f[o + p]!;
    }
    const dq = q - p;
    d[o + q] = s2 * dq * dq + fp;
  }
}

/** One 1D pass along D (axis 0) or H (axis 1) over every line of the volume, in place. */
function pass(g: Float64Array, shape: Shape3, axis: 0 | 1, spacing: number, sc: Scratch): void {
  const [D, H, W] = shape;
  const n = axis === 0 ? D : H;
  const stride = axis === 0 ? H * W : W;
  const outerN = axis === 0 ? H : D;
  const outerStride = axis === 0 ? W : H * W;
  const s2 = spacing * spacing;
  const { f, d } = sc;
  for (let o = 0; o < outerN; o++) {
    for (let w0 = 0; w0 < W; w0 += BLOCK) {
      const bw = Math.min(BLOCK, W - w0);
      const base = o * outerStride + w0;
      let any = false;
      for (let q = 0; q < n; q++) {
        const row = base + q * stride;
        for (let j = 0; j < bw; j++) {
          const x = g[row + j]!;
          f[j * n + q] = x;
          if (x !== Infinity) any = true;
        }
      }
      // A block with no finite value stays ∞; nothing to write back.
      if (!any) continue;
      for (let j = 0; j < bw; j++) envelope1d(n, s2, j * n, sc);
      for (let q = 0; q < n; q++) {
        const row = base + q * stride;
        for (let j = 0; j < bw; j++) g[row + j] = d[j * n + q]!;
      }
    }
  }
}

/**
 * The first pass, along W, on the binary features themselves: there every parabola has height
 * 0 or ∞, so the lower envelope is just the nearest feature in the row, found by one sweep each
 * way. It gives the same s²·Δ² the envelope would, at a fraction of the cost.
 */
function rowPass(feature: Uint8Array, g: Float64Array, shape: Shape3, spacing: number): void {
  const W = shape[2];
  const rows = shape[0] * shape[1];
  const s2 = spacing * spacing;
  for (let r = 0; r < rows; r++) {
    const base = r * W;
    let last = -1;
    for (let w = 0; w < W; w++) {
      if (feature[base + w] !== 0) last = w;
      if (last < 0) g[base + w] = Infinity;
      else {
        const dq = w - last;
        g[base + w] = s2 * dq * dq;
      }
    }
    if (last < 0) continue;
    let next = -1;
    for (let w = W - 1; w >= 0; w--) {
      if (feature[base + w] !== 0) next = w;
      if (next < 0) continue;
      const dq = next - w;
      const v = s2 * dq * dq;
      if (v < g[base + w]!) g[base + w] = v;
    }
  }
}

/**
 * For every voxel, the squared Euclidean distance in mm to the nearest voxel where `feature`
 * is nonzero (0 on the features themselves); ∞ everywhere when there are no features.
 */
export function squaredDistanceTransform(feature: Uint8Array, shape: Shape3, spacing: Spacing3): Float64Array {
  checkShape(shape, feature.length, 'distance transform');
  checkSpacing(spacing, 'distance transform');
  const g = new Float64Array(feature.length);
  rowPass(feature, g, shape, spacing[2]);
  const sc = scratch(Math.max(shape[0], shape[1]));
  pass(g, shape, 1, spacing[1], sc);
  pass(g, shape, 0, spacing[0], sc);
  return g;
}

/** Euclidean distance in mm to the nearest nonzero voxel of `feature`. */
export function distanceTransform(feature: Uint8Array, shape: Shape3, spacing: Spacing3): Float64Array {
  const g = squaredDistanceTransform(feature, shape, spacing);
  for (let i = 0; i < g.length; i++) g[i] = Math.sqrt(g[i]!);
  return g;
}
