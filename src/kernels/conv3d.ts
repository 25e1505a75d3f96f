import { attachGrad, type Tensor } from '../tensor/tensor.js';
import type { Device } from '../tensor/device.js';
import type { KernelDef } from '../tensor/kernel.js';
import { sameDevice } from './util.js';
import { sum } from './reduce.js';
import { convGeometry, convGeometryOf, type Conv3dKernelOptions, type ConvGeometry } from './conv3d-geometry.js';
import { convBlocks, splitForward, splitInputGrad, splitWeightGrad, type ConvPasses } from './conv3d-split.js';
import { directForward, directInputGrad, directKernels, directWeightGrad } from './conv3d-direct.js';
import { CPU_TILES, GPU_TILES, tiledFits, tiledKernels, tilesFor, type ConvPassName, type ConvTiles } from './conv3d-tiled.js';
import { convRequest, DIRECT, tiledCandidate, type ConvCandidate } from './conv3d-candidates.js';
import { GEMM_PASSES, gemmWarmupKernels } from './conv3d-gemm.js';

export { convGeometry, convGeometryOf, convFlops, type Conv3dKernelOptions, type Conv3dVariant, type ConvGeometry } from './conv3d-geometry.js';
export { CPU_SG_TILES, CPU_TILES, GPU_TILES, isCpuAdapter, type ConvTiles, type ConvPassName } from './conv3d-tiled.js';
export { CONV3D_CANDIDATES, convRequest, tiledCandidate, type ConvCandidate, type PassFits } from './conv3d-candidates.js';
export { NARROW_ROW, NARROW_ROW_DEFAULTS, SHIPPED_DEFAULTS, adapterClass, shippedDefault, type AdapterClass } from './tune-defaults.js';

type ConvImpl = ConvPasses;

/** Forced tilings (variant 'cpu' / 'gpu' / 'direct'): each pass falls back to the direct one when its padded copies would not fit a binding. */
const forced = (tiles: ConvTiles | null): ConvImpl => {
  if (!tiles) return DIRECT.passes;
  const t = tiledCandidate('forced', tiles).passes;
  return {
    forward: (x, w, b, g) => (tiledFits(g, tiles, x.device).forward ? t.forward(x, w, b, g) : directForward(x, w, b, g)),
    inputGrad: (gy, w, g) => (tiledFits(g, tiles, gy.device).inputGrad ? t.inputGrad(gy, w, g) : directInputGrad(gy, w, g)),
    weightGrad: (x, gy, g) => (tiledFits(g, tiles, x.device).weightGrad ? t.weightGrad(x, gy, g) : directWeightGrad(x, gy, g)),
  };
};

/** The candidate the device's tuner picks for one pass of g (the shipped default unless measured). */
const pick = (device: Device, g: ConvGeometry, pass: ConvPassName): ConvCandidate => device.tuner.choose(convRequest(g, pass, device));

/** 'auto': every pass, of the whole convolution or of each block, through the tuner. */
const tuned: ConvImpl = {
  forward: (x, w, b, g) => pick(x.device, g, 'forward').passes.forward(x, w, b, g),
  inputGrad: (gy, w, g) => pick(gy.device, g, 'inputGrad').passes.inputGrad(gy, w, g),
  weightGrad: (x, gy, g) => pick(x.device, g, 'weightGrad').passes.weightGrad(x, gy, g),
};

/** The tiling a forced variant runs with (null: the direct kernels); undefined for 'auto'. */
function forcedTiles(opts: Conv3dKernelOptions): ConvTiles | null | undefined {
  switch (opts.variant ?? 'auto') {
    case 'direct':
    case 'gemm':
      return null;
    case 'cpu':
      return CPU_TILES;
    case 'gpu':
      return GPU_TILES;
    default:
      return undefined;
  }
}

/**
 * The passes for x's device; beyond one storage binding, by blocks (conv3d-split.ts). The
 * blocks are sized for the shipped default's copies, as before tuning; within a block the
 * tuner chooses among the candidates that fit it.
 * @internal (conv3d-fused.ts runs them too)
 */
export function implFor(x: Tensor, g: ConvGeometry, opts: Conv3dKernelOptions): ConvImpl {
  const f = forcedTiles(opts);
  const impl = opts.variant === 'gemm' ? GEMM_PASSES : f === undefined ? tuned : forced(f);
  const blocks = convBlocks(g, x.device, f === undefined ? tilesFor(x.device) : f);
  if (!blocks) return impl;
  return {
    forward: (x, w, b, g) => splitForward(impl, x, w, b, g, blocks),
    inputGrad: (gy, w, g) => splitInputGrad(impl, gy, w, g, blocks),
    weightGrad: (x, gy, g) => splitWeightGrad(impl, x, gy, g, blocks),
  };
}

const PASSES: readonly ConvPassName[] = ['forward', 'inputGrad', 'weightGrad'];

/**
 * The kernels conv3d compiles for these shapes (forward and backward), for
 * `device.warmup(...)` before a first training step.
 */
export function conv3dKernels(
  device: Device,
  xShape: readonly number[],
  wShape: readonly number[],
  opts: Conv3dKernelOptions & { bias?: boolean } = {},
): KernelDef[] {
  const g = convGeometryOf(xShape, wShape, opts.bias ? [wShape[0]!] : null, opts);
  if (opts.variant === 'gemm') return gemmWarmupKernels(g, device);
  const f = forcedTiles(opts);
  if (f !== undefined) {
    const fits = f ? tiledFits(g, f, device) : null;
    return f && fits?.forward && fits.inputGrad && fits.weightGrad ? tiledKernels(g, f) : directKernels();
  }
  const defs = PASSES.flatMap((pass) => pick(device, g, pass).kernels?.(g, [pass], device) ?? []);
  return [...new Set(defs)];
}

/**
 * 3-D convolution (cross-correlation), like torch.nn.functional.conv3d:
 * x [N, Ci, D, H, W], weight [Co, Ci, kd, kh, kw], bias [Co] or null → [N, Co, Do, Ho, Wo]
 * with Do = ⌊(D + 2·pd − kd) / sd⌋ + 1 (likewise H, W). Differentiable in x, weight, bias.
 */
export function conv3d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv3dKernelOptions = {}): Tensor {
  sameDevice('conv3d', ...(bias ? [x, weight, bias] : [x, weight]));
  const g = convGeometry(x, weight, bias, opts);
  const impl = implFor(x, g, opts);
  const y = impl.forward(x, weight, bias, g);
  const needX = x.requiresGrad;
  const needW = weight.requiresGrad;
  const needB = !!bias?.requiresGrad;
  attachGrad('conv3d', bias ? [x, weight, bias] : [x, weight], [y], [x, weight], (grads, [xs, ws]) => {
    const gy = grads[0]!;
    const gx = needX ? impl.inputGrad(gy, ws!, g) : null;
    const gw = needW ? impl.weightGrad(xs!, gy, g) : null;
    const gb = needB ? sum(gy, [0, 2, 3, 4]) : null;
    return bias ? [gx, gw, gb] : [gx, gw];
  });
  return y;
}

/** conv3d through the plain reference kernels (one output element per invocation), forward and backward. */
export function conv3dDirect(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Omit<Conv3dKernelOptions, 'variant'> = {}): Tensor {
  return conv3d(x, weight, bias, { ...opts, variant: 'direct' });
}
