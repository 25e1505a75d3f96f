/**
 * End-to-end model steps: HNF-Netv2 at full width, one forward (eval, no gradient) and one
 * training step's forward + backward (Dice + BCE loss), at 64³ (32³ with --quick). 128³ is
 * in paper.ts, only with --paper: on a software adapter one step takes many minutes.
 *
 * FLOPs for the GFLOP/s column come from the model's own count (countModel): 2 × the
 * multiply-accumulates of the layers plus the EM iterations for the forward; 3 × that for
 * forward + backward (the usual estimate: the backward of a conv costs two forwards). Peak
 * GPU memory of the timed runs (device.memoryStats()) is printed to stderr when a case ends.
 * Peer: the same model and step in PyTorch (the twin, python/hnfnet_torch) on the CPU, or on
 * CUDA with --torch-device cuda, where a Python with torch is found (bench/peers/python.ts).
 */
import { add, backward, bceWithLogits, generalizedDiceLoss, Generator, noGrad, randn, sigmoid, tensor, tidy, type Tensor } from '../../src/index.js';
import { buildModel, countModel } from '../../src/hnfnet/index.js';
import type { BenchCase, BenchContext } from '../types.js';
import { startTwin } from '../peers/torch-twin.js';
import { torchDeviceArg } from '../peers/python.js';

const PRESET = 'hnfnetv2';

async function forwardFlops(ctx: BenchContext, side: number): Promise<number> {
  const m = buildModel(PRESET, { device: ctx.device });
  const c = await countModel(m, side);
  m.dispose();
  return 2 * (c.macs + c.emMacs);
}

function reportMemory(ctx: BenchContext, what: string): void {
  const s = ctx.device.memoryStats();
  process.stderr.write(`    ${what}: peak GPU memory ${(s.peakBytes / 2 ** 20).toFixed(0)} MiB (live now ${(s.liveBytes / 2 ** 20).toFixed(0)} MiB)\n`);
}

function forwardCase(side: number): BenchCase {
  const c: BenchCase = {
    name: `${PRESET} forward ${side}³`,
    impl: 'hnfnet',
    timing: 'gpu',
    async setup(ctx) {
      c.flops = await forwardFlops(ctx, side);
      const model = buildModel(PRESET, { device: ctx.device, seed: 0 }).eval();
      const x = randn([1, 4, side, side, side], { seed: 1, device: ctx.device });
      ctx.device.resetPeakMemory();
      return {
        run() {
          noGrad(() => tidy(() => model.call(x))).dispose();
        },
        dispose() {
          reportMemory(ctx, `${PRESET} forward ${side}³`);
          x.dispose();
          model.dispose();
        },
      };
    },
  };
  return c;
}

function trainCase(side: number): BenchCase {
  const c: BenchCase = {
    name: `${PRESET} forward+backward ${side}³`,
    impl: 'hnfnet',
    timing: 'gpu',
    async setup(ctx) {
      c.flops = 3 * (await forwardFlops(ctx, side));
      const model = buildModel(PRESET, { device: ctx.device, seed: 0 }).train();
      const x = randn([1, 4, side, side, side], { seed: 1, device: ctx.device });
      const g = new Generator(2);
      const target = tensor(Float32Array.from({ length: 3 * side ** 3 }, () => (g.uniform() < 0.2 ? 1 : 0)), [1, 3, side, side, side], { device: ctx.device });
      ctx.device.resetPeakMemory();
      return {
        run() {
          const loss: Tensor = tidy(() => {
            const logits = model.call(x);
            return add(generalizedDiceLoss(sigmoid(logits), target), bceWithLogits(logits, target));
          });
          backward(loss);
          loss.dispose();
          model.zeroGrad();
        },
        dispose() {
          reportMemory(ctx, `${PRESET} forward+backward ${side}³`);
          x.dispose();
          target.dispose();
          model.dispose();
        },
      };
    },
  };
  return c;
}

function twinCase(side: number, mode: 'forward' | 'train', device: 'cpu' | 'cuda'): BenchCase {
  const c: BenchCase = {
    name: `${PRESET} ${mode === 'train' ? 'forward+backward' : 'forward'} ${side}³`,
    impl: `pytorch-${device} (twin)`,
    timing: 'host',
    async setup(ctx) {
      c.flops = (mode === 'train' ? 3 : 1) * (await forwardFlops(ctx, side));
      const twin = await startTwin(PRESET, side, mode, device);
      process.stderr.write(`    ${twin.banner}\n`);
      return twin;
    },
  };
  return c;
}

// The harness builds its case list before any setup sees ctx.quick, so quick mode is read
// from the command line here (as conv3d-peers.ts does).
const side = process.argv.includes('--quick') ? 32 : 64;
const torchDevice = torchDeviceArg();
const twins = (mode: 'forward' | 'train'): BenchCase[] => (torchDevice === 'none' ? [] : [twinCase(side, mode, torchDevice)]);
export const cases: BenchCase[] = [forwardCase(side), ...twins('forward'), trainCase(side), ...twins('train')];
