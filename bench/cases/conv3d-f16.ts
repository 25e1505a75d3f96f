import type { BenchCase } from '../types.js';
import { conv3d, noGrad, tensor } from '../../src/index.js';
import { FWD, K, PAD, fwdFlops, fwdName, keep, values, type Workload } from '../conv3d-workloads.js';

/**
 * conv3d forward with float16 storage (f32 arithmetic; inference only), beside the float32
 * rows of bench/cases/conv3d.ts under the same names. On an adapter without shader-f16 the
 * row reports that error.
 */
function forward(w: Workload): BenchCase {
  return {
    name: fwdName(w),
    impl: 'hnfnet f16',
    flops: fwdFlops(w),
    timing: 'gpu',
    async setup(ctx) {
      const device = ctx.device;
      const opts = { device, dtype: 'float16' as const };
      const x = tensor(values(w.cin * w.edge ** 3, 13, 1), [1, w.cin, w.edge, w.edge, w.edge], opts);
      const wt = tensor(values(w.cout * w.cin * K ** 3, 11, 1 / Math.sqrt(w.cin * K ** 3)), [w.cout, w.cin, K, K, K], opts);
      const b = tensor(values(w.cout, 12, 0.1), [w.cout], opts);
      const run = (): void => noGrad(() => conv3d(x, wt, b, { stride: w.stride, padding: PAD })).dispose();
      run();
      await device.sync();
      return {
        run,
        dispose() {
          [x, wt, b].forEach((t) => t.dispose());
        },
      };
    },
  };
}

export const cases: BenchCase[] = FWD.filter(keep).map(forward);
