import type { BenchCase, BenchContext } from '../types.js';
import { conv3d, convFlops, convGeometry, convRequest, noGrad, tensor, type ConvPassName, type Tensor } from '../../src/index.js';
import type { ConvPasses } from '../../src/kernels/conv3d-split.js';
import { GEMM_PASSES } from '../../src/kernels/conv3d-gemm.js';
import { BWD, FWD, K, PAD, bwdName, fwdFlops, fwdName, keep, values, type Workload } from '../conv3d-workloads.js';

/**
 * hnfnet's conv3d workloads (3×3×3, padding 1, N = 1). Names match bench/cases/conv3d-peers.ts
 * so the table lines the peers up with these rows. "bwd" is the input and weight gradients
 * of one convolution given dy (bias gradient excluded), counted as 2× the forward FLOPs.
 */

interface Operands {
  x: Tensor;
  w: Tensor;
  b: Tensor;
}

function operands(w: Workload, ctx: BenchContext): Operands {
  const device = ctx.device;
  return {
    x: tensor(values(w.cin * w.edge ** 3, 13, 1), [1, w.cin, w.edge, w.edge, w.edge], { device }),
    w: tensor(values(w.cout * w.cin * K ** 3, 11, 1 / Math.sqrt(w.cin * K ** 3)), [w.cout, w.cin, K, K, K], { device }),
    b: tensor(values(w.cout, 12, 0.1), [w.cout], { device }),
  };
}

/** Rows for today's default kernels ('auto') and, beside them, the implicit-GEMM variant. */
type Variant = 'auto' | 'gemm';
const implName = (v: Variant): string => (v === 'auto' ? 'hnfnet' : 'hnfnet gemm');

function forward(w: Workload, variant: Variant): BenchCase {
  return {
    name: fwdName(w),
    impl: implName(variant),
    flops: fwdFlops(w),
    timing: 'gpu',
    async setup(ctx) {
      const { x, w: wt, b } = operands(w, ctx);
      // Compile and warm outside the timed runs.
      noGrad(() => conv3d(x, wt, b, { stride: w.stride, padding: PAD, variant })).dispose();
      await ctx.device.sync();
      return {
        run() {
          noGrad(() => conv3d(x, wt, b, { stride: w.stride, padding: PAD, variant })).dispose();
        },
        dispose() {
          [x, wt, b].forEach((t) => t.dispose());
        },
      };
    },
  };
}

function backward(w: Workload, variant: Variant): BenchCase {
  return {
    name: bwdName(w),
    impl: implName(variant),
    flops: 2 * fwdFlops(w),
    timing: 'gpu',
    async setup(ctx) {
      const { x, w: wt, b } = operands(w, ctx);
      const g = convGeometry(x, wt, b, { stride: w.stride, padding: PAD });
      if (2 * convFlops(g) !== 2 * fwdFlops(w)) throw new Error('conv3d bench: FLOP counts disagree');
      const gy = tensor(values(w.cout * g.out[0] * g.out[1] * g.out[2], 14, 1), [1, w.cout, ...g.out], { device: ctx.device });
      // The same two passes conv3d's backward runs (the candidates its tuner picks, as for the
      // forward rows), without the autograd bookkeeping around them.
      const pick = (pass: ConvPassName): ConvPasses => (variant === 'gemm' ? GEMM_PASSES : ctx.device.tuner.choose(convRequest(g, pass, ctx.device)).passes);
      const dgrad = pick('inputGrad');
      const wgrad = pick('weightGrad');
      const step = (): void => {
        dgrad.inputGrad(gy, wt, g).dispose();
        wgrad.weightGrad(x, gy, g).dispose();
      };
      step();
      await ctx.device.sync();
      return {
        run: step,
        dispose() {
          [x, wt, b, gy].forEach((t) => t.dispose());
        },
      };
    },
  };
}

const variants: Variant[] = ['auto', 'gemm'];
export const cases: BenchCase[] = [
  ...FWD.filter(keep).flatMap((w) => variants.map((v) => forward(w, v))),
  ...BWD.filter(keep).flatMap((w) => variants.map((v) => backward(w, v))),
];
