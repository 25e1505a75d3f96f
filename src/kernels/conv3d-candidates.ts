import { full, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import type { KernelDef } from '../tensor/kernel.js';
import type { TuneRequest, Trial } from '../tensor/tuner.js';
import { shapeClass } from '../tensor/tune-key.js';
import type { ConvGeometry } from './conv3d-geometry.js';
import type { ConvPasses } from './conv3d-split.js';
import { directForward, directInputGrad, directKernels, directWeightGrad } from './conv3d-direct.js';
import { CPU_SG_TILES, CPU_TILES, GPU_TILES, isCpuAdapter, tiledFits, tiledForward, tiledInputGrad, tiledKernels, tiledWeightGrad, type ConvPassName, type ConvTiles } from './conv3d-tiled.js';
import { GEMM_TILES, gemmFits, gemmKernels, gemmPasses, type GemmTiles } from './conv3d-gemm.js';
import { NARROW_ROW, shippedDefault } from './tune-defaults.js';

/** Which passes of a candidate can run geometry g on this device (binding limits, shape constraints). */
export type PassFits = Record<ConvPassName, boolean>;

/** One conv3d implementation the tuner may pick, pass by pass. */
export interface ConvCandidate {
  name: string;
  passes: ConvPasses;
  /** Omitted: every pass runs any geometry. */
  fits?(g: ConvGeometry, device: Device): PassFits;
  /** What `device.warmup` should compile for these passes (omitted: nothing ahead of use). */
  kernels?(g: ConvGeometry, passes: readonly ConvPassName[], device: Device): KernelDef[];
}

export const DIRECT: ConvCandidate = {
  name: 'direct',
  passes: { forward: directForward, inputGrad: directInputGrad, weightGrad: directWeightGrad },
  kernels: () => directKernels(),
};

export function tiledCandidate(name: string, tiles: ConvTiles): ConvCandidate {
  return {
    name,
    passes: {
      forward: (x, w, b, g) => tiledForward(x, w, b, g, tiles),
      inputGrad: (gy, w, g) => tiledInputGrad(gy, w, g, tiles),
      weightGrad: (x, gy, g) => tiledWeightGrad(x, gy, g, tiles),
    },
    fits: (g, device) => tiledFits(g, tiles, device),
    kernels: (g, passes) => tiledKernels(g, tiles, passes),
  };
}

const NONE: PassFits = { forward: false, inputGrad: false, weightGrad: false };

/**
 * The implicit GEMM with workgroup tiles (conv3d-gemm.ts), for GPUs. Not a candidate on CPU
 * adapters: there workgroup memory costs about as much as storage (conv3d-tiled.ts) and one
 * GEMM kernel takes ~50 s to compile on lavapipe, more than a tuning budget.
 */
export function gemmCandidate(name: string, tiles: GemmTiles): ConvCandidate {
  return {
    name,
    passes: gemmPasses(tiles),
    // No float16 path yet: its host code and workgroup tiles are sized for float32.
    fits: (g, device) => (isCpuAdapter(device) || g.dtype !== 'float32' ? NONE : gemmFits(g, device, tiles)),
    kernels: () => gemmKernels(tiles),
  };
}

/**
 * Every conv3d variant the tuner measures; a new one is one more line here (its name must
 * be unique; tune-defaults.ts says which run untuned). The extra
 * tilings fill the template's other corners: 8 voxels × 8 channels (more channel reuse of
 * each input vec4), and wider workgroups of the CPU and GPU tilings (fewer, larger tasks on
 * a CPU adapter; more warps per channel group on a GPU). The direct kernels are last: on
 * most shapes they are the slowest, and the per-key budget may cut them.
 */
export const CONV3D_CANDIDATES: readonly ConvCandidate[] = [
  tiledCandidate('tiled-cpu', CPU_TILES),
  tiledCandidate('tiled-gpu', GPU_TILES),
  tiledCandidate('tiled-8x8', { tw: 8, tc4: 2, wtc4: 2, wg: 64, lanes: 8192 }),
  tiledCandidate('tiled-cpu-wg128', { ...CPU_TILES, wg: 128 }),
  tiledCandidate('tiled-gpu-wg256', { ...GPU_TILES, wg: 256 }),
  // Weights (and wgrad's dy) loaded once per subgroup and broadcast: on a CPU adapter a
  // load is a per-lane gather even of one address, so sharing it pays for more channels
  // per invocation. Workgroups of 8 to 64 lanes: which spreads best over a CPU's cores
  // depends on the shape. 8 voxels × 16 channels: for stride 2, whose rows load twice the
  // input per output (0-30% faster than the default at 64→128 on lavapipe, run to run).
  tiledCandidate('tiled-16x8-wg16-sg8', CPU_SG_TILES),
  tiledCandidate('tiled-16x8-wg8-sg8', { ...CPU_SG_TILES, wg: 8 }),
  tiledCandidate('tiled-16x8-wg32-sg8', { ...CPU_SG_TILES, wg: 32 }),
  tiledCandidate('tiled-8x16-wg8-sg8', { ...CPU_SG_TILES, tw: 8, tc4: 4, wg: 8 }),
  // 8 voxels × 32 channels: for 1×1×1 kernels, where one input vec4 feeds a single tap
  // (1.2-1.5x the default on two of three 1×1×1 shapes measured on lavapipe, 0.8x on the third).
  tiledCandidate('tiled-8x32-wg16-sg8', { ...CPU_SG_TILES, tw: 8, tc4: 8 }),
  tiledCandidate('tiled-cpu-sg8', { ...CPU_TILES, sg: 8 }),
  tiledCandidate('tiled-gpu-sg4', { ...GPU_TILES, sg: 4 }),
  gemmCandidate('gemm-64x64', GEMM_TILES.t64x64),
  gemmCandidate('gemm-64x32', GEMM_TILES.t64x32),
  gemmCandidate('gemm-32x32', GEMM_TILES.t32x32),
  DIRECT,
];

const FAMILY: Record<ConvPassName, string> = { forward: 'forward', inputGrad: 'dgrad', weightGrad: 'wgrad' };

/**
 * The candidates that can run this pass of g, and the default: the first of the shipped
 * defaults that fits, else direct (as before tuning, where the default's copies do not fit).
 * Requests over the full candidate list are kept per device and geometry: conv3d asks on
 * every call, and the fit tests of a dozen candidates need not run each time.
 */
export function convRequest(g: ConvGeometry, pass: ConvPassName, device: Device, list: readonly ConvCandidate[] = CONV3D_CANDIDATES): TuneRequest<ConvCandidate> {
  if (list !== CONV3D_CANDIDATES) return makeRequest(g, pass, device, list);
  let memo = requests.get(device);
  if (!memo) requests.set(device, (memo = new Map()));
  const k = `${pass} ${JSON.stringify(g)}`;
  let req = memo.get(k);
  if (!req) {
    // A bound on what a program that runs ever new shapes keeps here.
    if (memo.size >= 1024) memo.clear();
    memo.set(k, (req = makeRequest(g, pass, device, list)));
  }
  return req;
}

const requests = new WeakMap<Device, Map<string, TuneRequest<ConvCandidate>>>();

function makeRequest(g: ConvGeometry, pass: ConvPassName, device: Device, list: readonly ConvCandidate[]): TuneRequest<ConvCandidate> {
  const candidates = list.filter((c) => !c.fits || c.fits(g, device)[pass]).map((c) => ({ name: c.name, impl: c }));
  return {
    key: {
      op: 'conv3d',
      family: FAMILY[pass],
      shape: shapeClass([g.n, g.ci, g.co, ...g.in]),
      // A float16 pass moves half the bytes: it may well prefer another tiling.
      attrs: `k${g.k.join(',')} s${g.stride.join(',')} p${g.pad.join(',')}${g.dtype === 'float32' ? '' : ` ${g.dtype}`}`,
    },
    candidates,
    fallback: shippedDefault(device, 'conv3d', candidates.map((c) => c.name), tileRows(g, pass) <= NARROW_ROW) ?? DIRECT.name,
    trial: () => convTrial(g, pass, device),
  };
}

/**
 * The row length the forward and dgrad tilings tile along W: the output's, or for dgrad its
 * widest stride phase. wgrad walks rows 4 voxels at a time whatever the tiling: Infinity.
 */
function tileRows(g: ConvGeometry, pass: ConvPassName): number {
  if (pass === 'forward') return g.out[2];
  if (pass === 'inputGrad') return Math.ceil(g.in[2] / g.stride[2]);
  return Infinity;
}

/** Constant inputs of g's real shapes (no random numbers drawn: the user's generator state stays as it was). */
function convTrial(g: ConvGeometry, pass: ConvPassName, device: Device): Trial<ConvCandidate> {
  const made: Tensor[] = [];
  const t = (shape: number[]): Tensor => {
    const x = full(shape, 0.5, { device, dtype: g.dtype });
    made.push(x);
    return x;
  };
  const x = pass === 'inputGrad' ? null : t([g.n, g.ci, ...g.in]);
  const w = pass === 'weightGrad' ? null : t([g.co, g.ci, ...g.k]);
  const b = pass === 'forward' && g.hasBias ? t([g.co]) : null;
  const gy = pass === 'forward' ? null : t([g.n, g.co, ...g.out]);
  return {
    run: (c) => {
      const p = c.passes;
      const y = pass === 'forward' ? p.forward(x!, w!, b, g) : pass === 'inputGrad' ? p.inputGrad(gy!, w!, g) : p.weightGrad(x!, gy!, g);
      y.dispose();
    },
    dispose: () => {
      for (const m of made) m.dispose();
    },
  };
}
