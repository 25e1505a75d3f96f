import type { BenchCase, BenchContext } from '../types.js';
import { conv3d, convGeometry, convRequest, MemoryStore, noGrad, tensor, type ConvCandidate, type ConvPassName, type Tensor } from '../../src/index.js';
import { BWD, FWD, K, PAD, bwdName, fwdFlops, fwdName, keep, values, type Workload } from '../conv3d-workloads.js';

/**
 * The conv3d workloads on the variants the tuner picks for them on this adapter (rows beside
 * cases/conv3d.ts's, which run the shipped defaults; the ratio column compares the two).
 * Each case measures afresh, into a cache in memory: the user's tuning cache is neither read
 * nor changed. The impl column names the winner per pass.
 */

const BUDGET = { mode: 'retune', perKeyMs: 60_000, totalMs: 600_000, reps: 3 } as const;

/** Tunes the given passes of g, then returns the chosen candidate per pass. */
async function tuned(ctx: BenchContext, g: ReturnType<typeof convGeometry>, passes: ConvPassName[]): Promise<Record<string, ConvCandidate>> {
  const tuner = ctx.device.configureTuning({ ...BUDGET, store: new MemoryStore() });
  for (const p of passes) tuner.choose(convRequest(g, p, ctx.device));
  await tuner.tunePending();
  return Object.fromEntries(passes.map((p) => [p, tuner.choose(convRequest(g, p, ctx.device))]));
}

function operands(w: Workload, ctx: BenchContext): { x: Tensor; w: Tensor; b: Tensor } {
  const device = ctx.device;
  return {
    x: tensor(values(w.cin * w.edge ** 3, 13, 1), [1, w.cin, w.edge, w.edge, w.edge], { device }),
    w: tensor(values(w.cout * w.cin * K ** 3, 11, 1 / Math.sqrt(w.cin * K ** 3)), [w.cout, w.cin, K, K, K], { device }),
    b: tensor(values(w.cout, 12, 0.1), [w.cout], { device }),
  };
}

function forward(w: Workload): BenchCase {
  const c: BenchCase = {
    name: fwdName(w),
    impl: 'hnfnet tuned',
    flops: fwdFlops(w),
    timing: 'gpu',
    async setup(ctx) {
      const { x, w: wt, b } = operands(w, ctx);
      const opts = { stride: w.stride, padding: PAD };
      const pick = await tuned(ctx, convGeometry(x, wt, b, opts), ['forward']);
      // The harness reads impl after setup: the row names what was picked.
      c.impl = `hnfnet tuned: ${pick.forward!.name}`;
      noGrad(() => conv3d(x, wt, b, opts)).dispose();
      await ctx.device.sync();
      return {
        run() {
          noGrad(() => conv3d(x, wt, b, opts)).dispose();
        },
        dispose() {
          [x, wt, b].forEach((t) => t.dispose());
          ctx.device.configureTuning({});
        },
      };
    },
  };
  return c;
}

function backward(w: Workload): BenchCase {
  const c: BenchCase = {
    name: bwdName(w),
    impl: 'hnfnet tuned',
    flops: 2 * fwdFlops(w),
    timing: 'gpu',
    async setup(ctx) {
      const { x, w: wt, b } = operands(w, ctx);
      const g = convGeometry(x, wt, b, { stride: w.stride, padding: PAD });
      const gy = tensor(values(w.cout * g.out[0] * g.out[1] * g.out[2], 14, 1), [1, w.cout, ...g.out], { device: ctx.device });
      const pick = await tuned(ctx, g, ['inputGrad', 'weightGrad']);
      c.impl = `hnfnet tuned: dgrad ${pick.inputGrad!.name}, wgrad ${pick.weightGrad!.name}`;
      const step = (): void => {
        pick.inputGrad!.passes.inputGrad(gy, wt, g).dispose();
        pick.weightGrad!.passes.weightGrad(x, gy, g).dispose();
      };
      step();
      await ctx.device.sync();
      return {
        run: step,
        dispose() {
          [x, wt, b, gy].forEach((t) => t.dispose());
          ctx.device.configureTuning({});
        },
      };
    },
  };
  return c;
}

export const cases: BenchCase[] = [...FWD.filter(keep).map(forward), ...BWD.filter(keep).map(backward)];
