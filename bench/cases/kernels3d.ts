import { backward, globalAvgPool3d, instanceNorm3d, interpolate, randn, type Tensor } from '../../src/index.js';
import type { BenchCase, BenchContext } from '../types.js';

/**
 * The 3-D kernels of the HNF-Net decoder and SDE blocks at the sizes they run at.
 * `bytes` is the traffic of an ideal implementation (each input read once, each output
 * written once), so the GB/s column is an effective bandwidth that any implementation of
 * the same workload can be held against. The passes hnfnet makes move more: trilinear
 * writes and rereads two intermediates (its three 1-D passes), instance norm reads x twice
 * forward and g and x twice backward. Quick mode halves each spatial edge.
 */
const F32 = 4;

function edge(ctx: BenchContext, full: number): number {
  return ctx.quick ? full / 2 : full;
}

interface Prepared {
  /** Tensors to free afterwards. */
  owned: Tensor[];
  run(): void;
}

function prepared(make: (ctx: BenchContext) => Prepared) {
  return async (ctx: BenchContext) => {
    const p = make(ctx);
    return {
      run: () => p.run(),
      dispose() {
        for (const t of p.owned) {
          t.zeroGrad();
          t.dispose();
        }
      },
    };
  };
}

/** Records a forward once with gradients on; each run is then only the backward through it. */
function backwardOnly(y: Tensor, leaves: Tensor[], owned: Tensor[]): Prepared {
  const g = randn(y.shape, { seed: 99 });
  return {
    owned: [...owned, y, g],
    run() {
      for (const l of leaves) l.zeroGrad();
      backward(y, g, { retainGraph: true });
    },
  };
}

// Sizes (full mode): trilinear 64 channels 32³ → 64³; instance norm 32 channels at 64³; GAP 64 channels at 32³.
const triIn = (q: boolean) => (q ? 16 : 32);
const triVoxels = (q: boolean) => 64 * triIn(q) ** 3 + 64 * (2 * triIn(q)) ** 3;
const inVoxels = (q: boolean) => 32 * (q ? 32 : 64) ** 3;
const gapVoxels = (q: boolean) => 64 * (q ? 16 : 32) ** 3;

/** A case whose byte count follows the mode of the last setup (the harness reads it after timing). */
function sized(name: (quick: boolean) => string, bytes: (quick: boolean) => number, make: (ctx: BenchContext) => Prepared): BenchCase {
  let quick = false;
  const run = prepared(make);
  return {
    get name() {
      return name(quick);
    },
    impl: 'hnfnet',
    timing: 'gpu',
    get bytes() {
      return bytes(quick);
    },
    setup(ctx) {
      quick = ctx.quick;
      return run(ctx);
    },
  };
}

export const cases: BenchCase[] = [
  sized(
    (q) => `trilinear x2 64ch ${triIn(q)}³→${2 * triIn(q)}³ fwd`,
    (q) => triVoxels(q) * F32,
    (ctx) => {
      const n = edge(ctx, 32);
      const x = randn([1, 64, n, n, n], { seed: 1 });
      return { owned: [x], run: () => interpolate(x, { size: [2 * n, 2 * n, 2 * n] }).dispose() };
    },
  ),
  sized(
    (q) => `trilinear x2 64ch ${triIn(q)}³→${2 * triIn(q)}³ bwd`,
    (q) => triVoxels(q) * F32,
    (ctx) => {
      const n = edge(ctx, 32);
      const x = randn([1, 64, n, n, n], { seed: 2, requiresGrad: true });
      return backwardOnly(interpolate(x, { size: [2 * n, 2 * n, 2 * n] }), [x], [x]);
    },
  ),
  sized(
    (q) => `instance norm 32ch ${q ? 32 : 64}³ fwd`,
    (q) => 2 * inVoxels(q) * F32,
    (ctx) => {
      const n = edge(ctx, 64);
      const x = randn([1, 32, n, n, n], { seed: 3 });
      const w = randn([32], { seed: 4 });
      const b = randn([32], { seed: 5 });
      return { owned: [x, w, b], run: () => instanceNorm3d(x, w, b).dispose() };
    },
  ),
  sized(
    (q) => `instance norm 32ch ${q ? 32 : 64}³ bwd`,
    (q) => 3 * inVoxels(q) * F32,
    (ctx) => {
      const n = edge(ctx, 64);
      const x = randn([1, 32, n, n, n], { seed: 6, requiresGrad: true });
      const w = randn([32], { seed: 7, requiresGrad: true });
      const b = randn([32], { seed: 8, requiresGrad: true });
      return backwardOnly(instanceNorm3d(x, w, b), [x, w, b], [x, w, b]);
    },
  ),
  sized(
    (q) => `global avg pool 64ch ${q ? 16 : 32}³`,
    (q) => gapVoxels(q) * F32,
    (ctx) => {
      const n = edge(ctx, 32);
      const x = randn([1, 64, n, n, n], { seed: 9 });
      return { owned: [x], run: () => globalAvgPool3d(x).dispose() };
    },
  ),
];
