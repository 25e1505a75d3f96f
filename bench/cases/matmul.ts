import { bmm, randn } from '../../src/index.js';
import type { BenchCase } from '../types.js';
import { loadTfjsWebGPU, tfjsSync } from '../peers/tfjs.js';

function ours(n: number): BenchCase {
  return {
    name: `matmul ${n}x${n}x${n}`,
    impl: 'hnfnet',
    flops: 2 * n ** 3,
    timing: 'gpu',
    async setup() {
      const a = randn([1, n, n], { seed: 1 });
      const b = randn([1, n, n], { seed: 2 });
      return {
        run() {
          bmm(a, b).dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

function tfjs(n: number): BenchCase {
  return {
    name: `matmul ${n}x${n}x${n}`,
    impl: 'tfjs-webgpu',
    flops: 2 * n ** 3,
    timing: 'host',
    async setup() {
      const tf = await loadTfjsWebGPU();
      const a = tf.randomNormal([n, n]);
      const b = tf.randomNormal([n, n]);
      await tfjsSync(tf);
      return {
        async run() {
          const c = tf.matMul(a, b);
          await tfjsSync(tf);
          c.dispose();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}

export const cases: BenchCase[] = [ours(512), tfjs(512), ours(1024), tfjs(1024)];
