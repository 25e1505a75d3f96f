import { add, relu, tensor, type Tensor } from '../../src/index.js';
import { directKernels } from '../../src/kernels/conv3d-direct.js';
import type { BenchCase, BenchContext } from '../types.js';

/**
 * Host cost of recording a dispatch: a thousand ops on 4-element tensors, whose GPU work is
 * nothing, so the time is the op's host path (shape checks, output allocation, pipeline
 * lookup, uniforms, bind group, encoding) and the submits every 32 dispatches. The median in
 * ms is the cost of one dispatch in µs. No run waits for the GPU: a software driver executes
 * the submitted batches on the same cores meanwhile, which is part of what an op costs there.
 */
const DISPATCHES = 1000;

function overhead(name: string, op: (a: Tensor, b: Tensor) => Tensor): BenchCase {
  return {
    name,
    impl: 'hnfnet',
    timing: 'host',
    async setup(ctx: BenchContext) {
      const a = tensor([1, 2, 3, 4], [4]);
      const b = tensor([4, 3, 2, 1], [4]);
      await ctx.device.sync();
      return {
        run() {
          for (let i = 0; i < DISPATCHES; i++) op(a, b).dispose();
          ctx.device.flush();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

const LOOKUPS = 100_000;

/**
 * The part of a dispatch that finds the kernel's pipeline, alone: what the GPU and the rest of
 * the machine do matters little here. The direct convolution's definition (a long body, 13
 * uniforms) is looked up again and again after its first compile.
 */
const lookup: BenchCase = {
  name: `pipeline lookup: ${LOOKUPS / 1000}k × device.pipeline(conv3d_direct) (ms × 10 = ns each)`,
  impl: 'hnfnet',
  timing: 'host',
  async setup(ctx: BenchContext) {
    const def = directKernels()[0]!;
    ctx.device.pipeline(def);
    return {
      run() {
        for (let i = 0; i < LOOKUPS; i++) ctx.device.pipeline(def);
      },
      dispose() {},
    };
  },
};

export const cases: BenchCase[] = [
  lookup,
  overhead(`dispatch overhead: ${DISPATCHES} × add [4] (ms = µs per dispatch)`, add),
  overhead(`dispatch overhead: ${DISPATCHES} × relu [4] (ms = µs per dispatch)`, (a) => relu(a)),
];
