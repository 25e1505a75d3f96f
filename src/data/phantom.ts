/**
 * Synthetic BraTS-like cases: the project's own data for tests, demos and the quick start, needing
 * no download. An ellipsoidal brain (white matter, cortex, two ventricles, smooth texture, bias
 * field, noise) holds a tumour of nested, irregular shells: necrotic core (NCR) inside an enhancing
 * rim (ET) inside oedema (ED). Contrasts follow real MRI qualitatively, strongly enough to be
 * learnable: ET bright and NCR dark on T1ce, the whole tumour brighter than brain on FLAIR (ED most),
 * ED and NCR bright on T2, CSF bright on T2 and dark on FLAIR. The seed moves and resizes everything.
 */
import { gridFromAffine } from './affine.js';
import { LABELS, encodeCaseFiles, type BratsCase, type CaseEncodeOptions } from './brats-case.js';
import { Rng } from './rng.js';
import type { Affine, Dims3 } from './volume.js';
import { ArgumentError } from '../tensor/errors.js';

export interface PhantomOptions {
  /** Edge length, or [X, Y, Z]; default 64. */
  size?: number | Dims3;
  seed?: number;
  /** Case id; default `phantom-<seed>`. */
  id?: string;
  /** Noise std as a fraction of each tissue's intensity; default 0.03. */
  noise?: number;
}

const enum Tissue {
  WM,
  GM,
  CSF,
  ED,
  ET,
  NCR,
}

/** Base intensity per tissue (rows, in Tissue order) for T1, T1ce, T2, FLAIR. */
const CONTRAST: readonly (readonly [number, number, number, number])[] = [
  [750, 700, 380, 420], // WM
  [520, 500, 620, 560], // GM
  [220, 200, 1500, 120], // CSF
  [480, 520, 1150, 950], // ED
  [560, 1400, 900, 780], // ET
  [300, 260, 1350, 800], // NCR
];

interface Wave {
  k: [number, number, number];
  phase: number;
  amp: number;
}

function waves(rng: Rng, count: number, amp: number, freq: number): Wave[] {
  return Array.from({ length: count }, () => ({
    k: [rng.normal(0, freq), rng.normal(0, freq), rng.normal(0, freq)] as [number, number, number],
    phase: rng.uniform(0, 2 * Math.PI),
    amp: amp * rng.uniform(0.5, 1),
  }));
}

function waveSum(ws: readonly Wave[], x: number, y: number, z: number): number {
  let s = 0;
  for (const w of ws) s += w.amp * Math.sin(w.k[0] * x + w.k[1] * y + w.k[2] * z + w.phase);
  return s;
}

/** A 1 mm grid in BraTS's orientation (LPS: x and y flipped, y offset to the last row). */
export function phantomAffine(dims: Dims3): Affine {
  return [
    [-1, 0, 0, 0],
    [0, -1, 0, dims[1] - 1],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

export function generatePhantom(opts: PhantomOptions = {}): BratsCase {
  const seed = opts.seed ?? 0;
  const dims: Dims3 = typeof opts.size === 'number' || opts.size === undefined ? [opts.size ?? 64, opts.size ?? 64, opts.size ?? 64] : [...opts.size];
  if (dims.some((d) => !(Number.isInteger(d) && d >= 16))) throw new ArgumentError(`generatePhantom: size ${dims.join('×')} must be whole and at least 16 per axis`);
  const noise = opts.noise ?? 0.03;
  const rng = new Rng(seed, 0x7a4e);
  const [X, Y, Z] = dims;
  const N = X * Y * Z;

  const centre = dims.map((d) => (d - 1) / 2 + rng.uniform(-0.03, 0.03) * d);
  const brainR = [0.4, 0.44, 0.38].map((f, a) => f * dims[a]! * rng.uniform(0.95, 1.05));
  const wmFrac = rng.uniform(0.66, 0.74);
  const ventOff = [0.13 * brainR[0]!, rng.uniform(-0.05, 0.05) * brainR[1]!, 0.08 * brainR[2]!];
  const ventR = [0.09 * brainR[0]!, rng.uniform(0.22, 0.3) * brainR[1]!, 0.13 * brainR[2]!];
  const texture = waves(rng, 3, 0.03, 0.25);
  const boundary = waves(rng, 3, 0.03, 2.5);
  const biasDir = [rng.normal(), rng.normal(), rng.normal()];
  const biasNorm = Math.hypot(biasDir[0]!, biasDir[1]!, biasDir[2]!) || 1;
  const gains = [0, 1, 2, 3].map(() => rng.uniform(0.85, 1.15));

  // Tumour: a centre well inside the brain, an oedema radius, and the core shells as fractions of it.
  const minR = Math.min(...brainR);
  const rEd = rng.uniform(0.35, 0.55) * minR;
  const rTc = rEd * rng.uniform(0.5, 0.75);
  const rNcr = rTc * rng.uniform(0.4, 0.7);
  const dir = [rng.normal(), rng.normal(), rng.normal()];
  const dn = Math.hypot(dir[0]!, dir[1]!, dir[2]!) || 1;
  const reach = rng.uniform(0, 0.5);
  const tCentre = centre.map((c, a) => c + (dir[a]! / dn) * reach * (brainR[a]! - rEd * 1.2));
  const stretch = [0, 1, 2].map(() => rng.uniform(0.85, 1.15));
  const shape = waves(rng, 3, 0.08, 1.8);
  const rim = waves(rng, 2, 0.04, 3);

  const images = [0, 1, 2, 3].map(() => new Float32Array(N));
  const labels = new Uint8Array(N);
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++) {
        const i = x + X * (y + Y * z);
        const ex = (x - centre[0]!) / brainR[0]!;
        const ey = (y - centre[1]!) / brainR[1]!;
        const ez = (z - centre[2]!) / brainR[2]!;
        const er = Math.sqrt(ex * ex + ey * ey + ez * ez);
        const er1 = er || 1;
        const wobble = waveSum(boundary, ex / er1, ey / er1, ez / er1);
        if (er > 1 + wobble) continue;

        let tissue = er < wmFrac * (1 + wobble) ? Tissue.WM : Tissue.GM;
        for (const side of [-1, 1]) {
          const vx = (x - centre[0]! - side * ventOff[0]!) / ventR[0]!;
          const vy = (y - centre[1]! - ventOff[1]!) / ventR[1]!;
          const vz = (z - centre[2]! - ventOff[2]!) / ventR[2]!;
          if (vx * vx + vy * vy + vz * vz < 1) tissue = Tissue.CSF;
        }

        const tx = (x - tCentre[0]!) / stretch[0]!;
        const ty = (y - tCentre[1]!) / stretch[1]!;
        const tz = (z - tCentre[2]!) / stretch[2]!;
        const td = Math.sqrt(tx * tx + ty * ty + tz * tz);
        if (td < rEd * 1.4) {
          const t1 = td || 1;
          const g = waveSum(shape, tx / t1, ty / t1, tz / t1);
          const h = waveSum(rim, tx / t1, ty / t1, tz / t1);
          if (td < rNcr * (1 + g + h)) tissue = Tissue.NCR;
          else if (td < rTc * (1 + g - h)) tissue = Tissue.ET;
          else if (td < rEd * (1 + g)) tissue = Tissue.ED;
        }
        labels[i] = tissue === Tissue.NCR ? LABELS.NCR : tissue === Tissue.ET ? LABELS.ET : tissue === Tissue.ED ? LABELS.ED : 0;

        const tex = 1 + waveSum(texture, x, y, z);
        const bias = 1 + (0.08 * (biasDir[0]! * ex + biasDir[1]! * ey + biasDir[2]! * ez)) / biasNorm;
        const base = CONTRAST[tissue]!;
        for (let m = 0; m < 4; m++) {
          const v = base[m]! * gains[m]! * tex * bias * (1 + noise * rng.normal());
          // At least 1 inside the brain, so "brain = nonzero in any modality" recovers the ellipsoid.
          images[m]![i] = Math.max(1, Math.round(v));
        }
      }
    }
  }
  const affine = phantomAffine(dims);
  return {
    id: opts.id ?? `phantom-${seed}`,
    naming: '2021',
    dims,
    spacing: [1, 1, 1],
    affine,
    grid: gridFromAffine(affine, dims),
    images,
    labels,
    files: { t1: null, t1ce: null, t2: null, flair: null, seg: null },
  };
}

/** A phantom as BraTS 2018-style files: `<id>_t1.nii.gz` … int16 images, uint8 seg with labels 0, 1, 2, 4. */
export function phantomFiles(opts: PhantomOptions = {}, encode: CaseEncodeOptions = {}): { name: string; bytes: Uint8Array }[] {
  return encodeCaseFiles(generatePhantom(opts), { naming: '2021', imageDatatype: 'int16', ...encode });
}
