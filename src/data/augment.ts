/**
 * The paper's augmentations, drawn from one seeded generator: flips on each axis, rotations in each
 * of the three planes, per-channel intensity shift and scale.
 *
 * Sampling (sampleAugment) is separate from applying (extractPatch), so a sample's parameters are
 * a pure function of its generator and can be logged or replayed. extractPatch cuts the training
 * patch, rotates and flips it in one resampling pass: every output voxel is mapped back into the
 * (brain-cropped) source volume, so corners of a rotated patch hold real neighbouring tissue rather
 * than padding. Images are interpolated trilinearly, the brain mask and labels by nearest voxel;
 * voxels outside the resampled brain mask are set to exactly 0, so "background is 0" survives
 * augmentation, and the intensity shift/scale applies only inside the brain.
 *
 * Rotation is in voxel-index space, which is geometric rotation for isotropic voxels (BraTS is
 * 1 mm isotropic).
 */
import type { Box3 } from './crop.js';
import type { Rng } from './rng.js';
import type { Dims3 } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

export interface AugmentConfig {
  /** Each axis flips independently with this probability. */
  flip: { prob: number };
  /** Each plane (about x, y, z) rotates independently with this probability, by an angle uniform in ±maxDegrees. */
  rotate: { prob: number; maxDegrees: number };
  /** Each channel gets, with this probability, an additive shift uniform in ±max (in z-score units). */
  intensityShift: { prob: number; max: number };
  /** Each channel gets, with this probability, a factor uniform in [min, max]. */
  intensityScale: { prob: number; min: number; max: number };
}

/**
 * The paper gives the ranges (±10°, ±0.1, 0.9–1.1) but not the probabilities; these follow the
 * common BraTS practice (Myronenko 2018; nnU-Net): flips 0.5 per axis, intensity changes always,
 * and a rotation in half of the planes.
 */
export const DEFAULT_AUGMENT: Readonly<AugmentConfig> = {
  flip: { prob: 0.5 },
  rotate: { prob: 0.5, maxDegrees: 10 },
  intensityShift: { prob: 1, max: 0.1 },
  intensityScale: { prob: 1, min: 0.9, max: 1.1 },
};

export type AugmentOverrides = { [K in keyof AugmentConfig]?: Partial<AugmentConfig[K]> };

/** DEFAULT_AUGMENT with some fields replaced. */
export function augmentConfig(overrides: AugmentOverrides = {}): AugmentConfig {
  return {
    flip: { ...DEFAULT_AUGMENT.flip, ...overrides.flip },
    rotate: { ...DEFAULT_AUGMENT.rotate, ...overrides.rotate },
    intensityShift: { ...DEFAULT_AUGMENT.intensityShift, ...overrides.intensityShift },
    intensityScale: { ...DEFAULT_AUGMENT.intensityScale, ...overrides.intensityScale },
  };
}

export interface AugmentParams {
  /** Flip along x, y, z. */
  flip: [boolean, boolean, boolean];
  /** Rotation angles in degrees about the x, y and z axes (applied as Rz·Ry·Rx). */
  rotationDeg: [number, number, number];
  /** Per-channel factor and shift: v' = v·scale + shift inside the brain. */
  scale: number[];
  shift: number[];
}

export function identityAugment(channels: number): AugmentParams {
  return { flip: [false, false, false], rotationDeg: [0, 0, 0], scale: new Array<number>(channels).fill(1), shift: new Array<number>(channels).fill(0) };
}

/**
 * Draws one sample's parameters. Every draw happens whatever the probabilities, so changing one
 * probability does not shift the random stream of the others.
 */
export function sampleAugment(rng: Rng, config: AugmentConfig, channels: number): AugmentParams {
  const flip = [0, 1, 2].map(() => rng.chance(config.flip.prob)) as [boolean, boolean, boolean];
  const rotationDeg = [0, 1, 2].map(() => {
    const on = rng.chance(config.rotate.prob);
    const a = rng.uniform(-config.rotate.maxDegrees, config.rotate.maxDegrees);
    return on ? a : 0;
  }) as [number, number, number];
  const scale: number[] = [];
  const shift: number[] = [];
  for (let c = 0; c < channels; c++) {
    const onScale = rng.chance(config.intensityScale.prob);
    const s = rng.uniform(config.intensityScale.min, config.intensityScale.max);
    const onShift = rng.chance(config.intensityShift.prob);
    const t = rng.uniform(-config.intensityShift.max, config.intensityShift.max);
    scale.push(onScale ? s : 1);
    shift.push(onShift ? t : 0);
  }
  return { flip, rotationDeg, scale, shift };
}

/** Rz·Ry·Rx for angles in degrees about x, y, z; row-major 3×3. */
export function rotationMatrix(deg: readonly [number, number, number]): number[] {
  const [a, b, c] = deg.map((d) => (d * Math.PI) / 180) as [number, number, number];
  const [ca, sa, cb, sb, cc, sc] = [Math.cos(a), Math.sin(a), Math.cos(b), Math.sin(b), Math.cos(c), Math.sin(c)];
  // Rx = [[1,0,0],[0,ca,-sa],[0,sa,ca]], Ry = [[cb,0,sb],[0,1,0],[-sb,0,cb]], Rz = [[cc,-sc,0],[sc,cc,0],[0,0,1]]
  return [
    cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa,
    sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa,
    -sb, cb * sa, cb * ca,
  ];
}

export interface PatchSource {
  /** Channel-major, each x-fastest over dims. */
  images: Float32Array;
  channels: number;
  dims: Dims3;
  /** Brain mask; null treats every voxel inside the volume as brain. */
  mask: Uint8Array | null;
  labels: Uint8Array | null;
}

export interface Patch {
  /** channels × size voxels, channel-major, x-fastest. */
  images: Float32Array;
  /** size voxels, or null when the source has no labels. */
  labels: Uint8Array | null;
}

export interface PatchOutput {
  images: Float32Array;
  imageOffset?: number;
  labels?: Uint8Array;
}

/**
 * The patch at `box` of the source, transformed by `params`: content rotated about the box centre,
 * then flipped, then intensity-adjusted inside the brain. Writes into `out` when given (e.g. a slot
 * of a batch), else allocates.
 */
export function extractPatch(src: PatchSource, box: Box3, params: AugmentParams, out?: PatchOutput): Patch {
  const [sx, sy, sz] = box.size;
  const P = sx * sy * sz;
  const C = src.channels;
  const images = out?.images ?? new Float32Array(C * P);
  const off = out?.imageOffset ?? 0;
  const labels = src.labels ? (out?.labels ?? new Uint8Array(P)) : null;
  if (images.length < off + C * P) throw new ArgumentError(`extractPatch: output holds ${images.length} values, needs ${off + C * P}`);
  if (labels && labels.length < P) throw new ArgumentError(`extractPatch: label output holds ${labels.length} values, needs ${P}`);
  if (params.scale.length < C || params.shift.length < C) throw new ArgumentError(`extractPatch: intensity parameters for ${params.scale.length} channels, source has ${C}`);
  const rotated = params.rotationDeg.some((d) => d !== 0);
  if (rotated) resampleRotated(src, box, params, images, off, labels);
  else copyShifted(src, box, params, images, off, labels);
  return { images: off === 0 && images.length === C * P ? images : images.subarray(off, off + C * P), labels };
}

/** Flips only: every output voxel is one source voxel. */
function copyShifted(src: PatchSource, box: Box3, params: AugmentParams, images: Float32Array, off: number, labels: Uint8Array | null): void {
  const [X, Y, Z] = src.dims;
  const N = X * Y * Z;
  const [sx, sy, sz] = box.size;
  const P = sx * sy * sz;
  const C = src.channels;
  const [fx, fy, fz] = params.flip;
  const { scale, shift } = params;
  for (let z = 0; z < sz; z++) {
    const zs = box.start[2] + (fz ? sz - 1 - z : z);
    for (let y = 0; y < sy; y++) {
      const ys = box.start[1] + (fy ? sy - 1 - y : y);
      const rowOk = zs >= 0 && zs < Z && ys >= 0 && ys < Y;
      const row = (zs * Y + ys) * X;
      const o = (z * sy + y) * sx;
      for (let x = 0; x < sx; x++) {
        const xs = box.start[0] + (fx ? sx - 1 - x : x);
        const p = o + x;
        if (!rowOk || xs < 0 || xs >= X) {
          for (let c = 0; c < C; c++) images[off + c * P + p] = 0;
          if (labels) labels[p] = 0;
          continue;
        }
        const i = row + xs;
        const brain = src.mask ? src.mask[i] !== 0 : true;
        for (let c = 0; c < C; c++) images[off + c * P + p] = brain ? src.images[c * N + i]! * scale[c]! + shift[c]! : 0;
        if (labels) labels[p] = src.labels![i]!;
      }
    }
  }
}

function resampleRotated(src: PatchSource, box: Box3, params: AugmentParams, images: Float32Array, off: number, labels: Uint8Array | null): void {
  const [X, Y, Z] = src.dims;
  const N = X * Y * Z;
  const XY = X * Y;
  const [sx, sy, sz] = box.size;
  const P = sx * sy * sz;
  const C = src.channels;
  const { scale, shift, flip } = params;
  // Content rotated by R: output offset d from the centre samples the source at centre + Rᵀ·d.
  const R = rotationMatrix(params.rotationDeg);
  const m = [R[0]!, R[3]!, R[6]!, R[1]!, R[4]!, R[7]!, R[2]!, R[5]!, R[8]!]; // Rᵀ, row-major
  const cx = (sx - 1) / 2;
  const cy = (sy - 1) / 2;
  const cz = (sz - 1) / 2;
  const ox = box.start[0] + cx;
  const oy = box.start[1] + cy;
  const oz = box.start[2] + cz;
  const w = new Float64Array(8);
  const idx = new Int32Array(8);
  for (let z = 0; z < sz; z++) {
    const dz = (flip[2] ? sz - 1 - z : z) - cz;
    for (let y = 0; y < sy; y++) {
      const dy = (flip[1] ? sy - 1 - y : y) - cy;
      const bx = ox + m[1]! * dy + m[2]! * dz;
      const by = oy + m[4]! * dy + m[5]! * dz;
      const bz = oz + m[7]! * dy + m[8]! * dz;
      const o = (z * sy + y) * sx;
      for (let x = 0; x < sx; x++) {
        const dx = (flip[0] ? sx - 1 - x : x) - cx;
        const px = bx + m[0]! * dx;
        const py = by + m[3]! * dx;
        const pz = bz + m[6]! * dx;
        const p = o + x;
        const nx = Math.round(px);
        const ny = Math.round(py);
        const nz = Math.round(pz);
        const nearestIn = nx >= 0 && nx < X && ny >= 0 && ny < Y && nz >= 0 && nz < Z;
        const ni = nz * XY + ny * X + nx;
        if (labels) labels[p] = nearestIn ? src.labels![ni]! : 0;
        const brain = nearestIn && (src.mask ? src.mask[ni] !== 0 : true);
        if (!brain) {
          for (let c = 0; c < C; c++) images[off + c * P + p] = 0;
          continue;
        }
        const x0 = Math.floor(px);
        const y0 = Math.floor(py);
        const z0 = Math.floor(pz);
        const tx = px - x0;
        const ty = py - y0;
        const tz = pz - z0;
        const img = src.images;
        if (x0 >= 0 && x0 + 1 < X && y0 >= 0 && y0 + 1 < Y && z0 >= 0 && z0 + 1 < Z) {
          // All eight neighbours inside: the common case, without per-neighbour checks.
          const i0 = z0 * XY + y0 * X + x0;
          const ux = 1 - tx;
          const uy = 1 - ty;
          const uz = 1 - tz;
          const w00 = uy * uz;
          const w10 = ty * uz;
          const w01 = uy * tz;
          const w11 = ty * tz;
          for (let c = 0; c < C; c++) {
            const a = c * N + i0;
            const v =
              w00 * (ux * img[a]! + tx * img[a + 1]!) +
              w10 * (ux * img[a + X]! + tx * img[a + X + 1]!) +
              w01 * (ux * img[a + XY]! + tx * img[a + XY + 1]!) +
              w11 * (ux * img[a + XY + X]! + tx * img[a + XY + X + 1]!);
            images[off + c * P + p] = v * scale[c]! + shift[c]!;
          }
          continue;
        }
        let k = 0;
        for (let c2 = 0; c2 < 2; c2++) {
          const zz = z0 + c2;
          const wz = c2 ? tz : 1 - tz;
          for (let b = 0; b < 2; b++) {
            const yy = y0 + b;
            const wy = b ? ty : 1 - ty;
            for (let a = 0; a < 2; a++) {
              const xx = x0 + a;
              const inside = xx >= 0 && xx < X && yy >= 0 && yy < Y && zz >= 0 && zz < Z;
              w[k] = inside ? (a ? tx : 1 - tx) * wy * wz : 0;
              idx[k] = inside ? zz * XY + yy * X + xx : 0;
              k++;
            }
          }
        }
        for (let c = 0; c < C; c++) {
          const base = c * N;
          const v =
            w[0]! * img[base + idx[0]!]! + w[1]! * img[base + idx[1]!]! + w[2]! * img[base + idx[2]!]! + w[3]! * img[base + idx[3]!]! +
            w[4]! * img[base + idx[4]!]! + w[5]! * img[base + idx[5]!]! + w[6]! * img[base + idx[6]!]! + w[7]! * img[base + idx[7]!]!;
          images[off + c * P + p] = v * scale[c]! + shift[c]!;
        }
      }
    }
  }
}
