/**
 * Peak GPU memory of one inference window or one training step, without the bench's
 * repetitions: `tsx scripts/memory-peak.ts --mode infer|train [--side 64] [--preset hnfnetv2]`
 * (training also `[--batch 1] [--checkpoint none|pmf]`: samples per step, activation checkpointing).
 * Prints one JSON line. Peak bytes depend on the allocation pattern, not on speed, so with the
 * binding limit scaled by the same factor as the volume (HNFNET_MAX_BINDING=16777216 at 64³
 * for lavapipe's 128 MiB at 128³) a small run predicts the split paths' copies of a large one.
 */
import { init } from '../src/index.js';
import { inferenceStep, trainingStep } from '../bench/paper-steps.js';
import { ACTIVATION_CHECKPOINTING, type ActivationCheckpointing } from '../src/hnfnet/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const mode = arg('mode', 'infer');
const side = Number(arg('side', '64'));
const preset = arg('preset', 'hnfnetv2');
const batch = Number(arg('batch', '1'));
const checkpoint = arg('checkpoint', 'none') as ActivationCheckpointing;
if (!ACTIVATION_CHECKPOINTING.includes(checkpoint)) throw new Error(`--checkpoint must be ${ACTIVATION_CHECKPOINTING.join(' or ')}, got ${checkpoint}`);
if (mode !== 'train' && (batch !== 1 || checkpoint !== 'none')) throw new Error('--batch and --checkpoint apply to --mode train only');
const device = await init();
const step = mode === 'train' ? trainingStep(device, preset, side, { batch, activationCheckpointing: checkpoint }) : inferenceStep(device, preset, side);
await device.sync();
const before = device.memoryStats().liveBytes;
device.resetPeakMemory();
const t0 = performance.now();
await step.run();
await device.sync();
const seconds = (performance.now() - t0) / 1000;
const s = device.memoryStats();
const mib = (b: number) => Math.round(b / 2 ** 20);
console.log(JSON.stringify({ mode, preset, side, ...(mode === 'train' ? { batch, checkpoint } : {}), binding: device.limits.maxStorageBufferBindingSize, seconds: Math.round(seconds), startMiB: mib(before), peakLiveMiB: mib(s.peakBytes), peakHeldMiB: mib(s.peakHeldBytes), afterMiB: mib(s.liveBytes) }));
step.dispose();
process.exit(0);
