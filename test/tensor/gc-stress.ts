/**
 * Run as a child process with --expose-gc: forces garbage collection between GPU work while
 * the main thread stays busy, which kills the process if Dawn's instance is not held
 * (docs/ARCHITECTURE.md, Errors). Prints one line per round and `ok` at the end.
 */
import { init, bmm, randn, sum, tidy } from '../../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
await init();
const a = randn([1, 64, 64], { seed: 1 });
const b = randn([1, 64, 64], { seed: 2 });
let first: number | null = null;
for (let round = 0; round < 12; round++) {
  gc();
  const s = tidy(() => sum(bmm(a, b)));
  const t0 = Date.now();
  while (Date.now() - t0 < 250) {
    /* keep the main thread busy, as a data loader or a UI would */
  }
  gc();
  const v = await s.item();
  s.dispose();
  if (first === null) first = v;
  if (v !== first) throw new Error(`round ${round}: ${v} != ${first}`);
  console.log(`round ${round} ${v}`);
}
console.log('ok');
