import { add, relu, tensor } from '../../src/index.js';
import type { BenchCase } from '../types.js';

const N = (64 << 20) / 4;

export const cases: BenchCase[] = [
  {
    name: 'relu 64 MiB',
    impl: 'hnfnet',
    bytes: 2 * 64 * 2 ** 20,
    timing: 'gpu',
    async setup() {
      const x = tensor(new Float32Array(N).map((_, i) => (i % 7) - 3), [N]);
      return { run: () => relu(x).dispose(), dispose: () => x.dispose() };
    },
  },
  {
    name: 'add 64 MiB + 64 MiB',
    impl: 'hnfnet',
    bytes: 3 * 64 * 2 ** 20,
    timing: 'gpu',
    async setup() {
      const a = tensor(new Float32Array(N).fill(1), [N]);
      const b = tensor(new Float32Array(N).fill(2), [N]);
      return {
        run: () => add(a, b).dispose(),
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  },
];
