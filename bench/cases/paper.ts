/**
 * The paper's sizes, only with `npm run bench -- --paper` (minutes per run on a software
 * adapter, so never in the default or --quick lists): full-width HNF-Netv2 inference of one
 * [1, 4, 128, 128, 128] window, and one training step at 128³, batch 1 (forward, Dice + BCE,
 * backward, Adam). One timed run each, no warm-up. The figure that matters is the "peak MiB"
 * column: issue 16 bounds inference at 1.5 GB and the training step at 12 GB.
 * `--paper-side N` runs the same rows at N³ (to check the scaling cheaply).
 */
import type { BenchCase } from '../types.js';
import { inferenceStep, trainingStep } from '../paper-steps.js';

const PRESET = 'hnfnetv2';
const i = process.argv.indexOf('--paper-side');
const side = i >= 0 ? Number(process.argv[i + 1]) : 128;

function paperCase(what: 'inference' | 'training step'): BenchCase {
  return {
    name: `${PRESET} ${what} ${side}³ (paper)`,
    impl: 'hnfnet',
    timing: 'gpu',
    runs: { warmup: 0, reps: 1 },
    async setup(ctx) {
      const step = what === 'inference' ? inferenceStep(ctx.device, PRESET, side) : trainingStep(ctx.device, PRESET, side);
      await ctx.device.sync();
      return step;
    },
  };
}

export const cases: BenchCase[] = process.argv.includes('--paper') ? [paperCase('inference'), paperCase('training step')] : [];
