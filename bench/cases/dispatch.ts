import { add, relu, tensor, type Tensor } from '../../src/index.js';
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

export const cases: BenchCase[] = [
  overhead(`dispatch overhead: ${DISPATCHES} × add [4] (ms = µs per dispatch)`, add),
  overhead(`dispatch overhead: ${DISPATCHES} × relu [4] (ms = µs per dispatch)`, (a) => relu(a)),
];
