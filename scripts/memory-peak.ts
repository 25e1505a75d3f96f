/**
 * Peak GPU memory of one inference window or one training step, without the bench's
 * repetitions: `tsx scripts/memory-peak.ts --mode infer|train [--side 64] [--preset hnfnetv2]`.
 * Prints one JSON line. Peak bytes depend on the allocation pattern, not on speed, so with the
 * binding limit scaled by the same factor as the volume (HNFNET_MAX_BINDING=16777216 at 64³
 * for lavapipe's 128 MiB at 128³) a small run predicts the split paths' copies of a large one.
 */
import { init } from '../src/index.js';
import { inferenceStep, trainingStep } from '../bench/paper-steps.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const mode = arg('mode', 'infer');
const side = Number(arg('side', '64'));
const preset = arg('preset', 'hnfnetv2');
const device = await init();
const step = mode === 'train' ? trainingStep(device, preset, side) : inferenceStep(device, preset, side);
await device.sync();
const before = device.memoryStats().liveBytes;
device.resetPeakMemory();
const t0 = performance.now();
await step.run();
await device.sync();
const seconds = (performance.now() - t0) / 1000;
const s = device.memoryStats();
const mib = (b: number) => Math.round(b / 2 ** 20);
console.log(JSON.stringify({ mode, preset, side, binding: device.limits.maxStorageBufferBindingSize, seconds: Math.round(seconds), startMiB: mib(before), peakLiveMiB: mib(s.peakBytes), peakHeldMiB: mib(s.peakHeldBytes), afterMiB: mib(s.liveBytes) }));
step.dispose();
process.exit(0);
