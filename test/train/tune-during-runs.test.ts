/**
 * `hnfnet train --tune` and `hnfnet infer --tune`: kernel variants measured between steps and
 * between windows, within the tuner's budget, and the run goes on with the results of the
 * variants it then picks (equal to the untuned run's up to float rounding). Without the
 * switch nothing is measured: the keys stay queued.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore, type Device } from '../../src/index.js';
import { buildModel } from '../../src/hnfnet/build.js';
import { slidingWindowInference } from '../../src/infer/sliding-window.js';
import { parseArgs } from '../../src/cli/args.js';
import { flagLayer } from '../../src/cli/train-command.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { runTraining } from '../../src/train/run.node.js';
import { readLog, type TuneLine } from '../../src/train/run-log.node.js';
import { expectClose, getDevice, randArray } from '../helpers.js';

const quiet = { write: () => true };
// Short budgets: the test checks that measuring happens where it should, not which variant wins.
const tuning = { mode: 'on', reps: 1, perKeyMs: 2_000, totalMs: 60_000 } as const;

let device: Device;
let root: string;

beforeAll(async () => {
  device = await getDevice();
  root = await mkdtemp(join(tmpdir(), 'hnfnet-tune-runs-'));
});

afterEach(() => {
  device.configureTuning({ mode: 'off' });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tuning during runs', () => {
  it('sliding-window inference with tune measures after the first window; without it the keys stay queued', async () => {
    const model = buildModel('tiny', { device, seed: 2 }).eval();
    const shape = [4, 20, 20, 20] as const;
    const image = randArray(shape.reduce((a, b) => a * b, 1), 9);
    const run = (tune: boolean) => slidingWindowInference(image, shape, [(x) => model.call(x)], { window: 16, overlap: 0.5, tta: 1, device, tune });

    device.configureTuning({ mode: 'off' });
    const plain = await run(false);

    const untuned = device.configureTuning({ ...tuning, store: new MemoryStore() });
    const queued = await run(false);
    expect(untuned.pending).toBeGreaterThan(0);
    expect(untuned.report().rows.filter((r) => r.status === 'tuned')).toEqual([]);
    // Queued keys run the shipped defaults: the very kernels of mode 'off'.
    expect(Array.from(queued.output)).toEqual(Array.from(plain.output));

    const tuner = device.configureTuning({ ...tuning, store: new MemoryStore() });
    const tuned = await run(true);
    expect(tuner.pending).toBe(0);
    expect(tuner.report().rows.filter((r) => r.status === 'tuned').length).toBeGreaterThan(0);
    expectClose(tuned.output, plain.output, 1e-5, 1e-5, 'tuned windows');
    model.dispose();
  }, 300_000);

  it('train --tune logs what it measured between steps; without it nothing is measured', async () => {
    expect(flagLayer(parseArgs(['--tune'], ['tune']))).not.toHaveProperty('tune');
    const config = resolveTrainConfig(flagLayer(parseArgs(['--phantoms', '2', '--phantom-size', '24', '--model', 'tiny', '--patch', '16', '--batch', '1', '--epochs', '1', '--steps-per-epoch', '2'])));
    const tuner = device.configureTuning({ ...tuning, store: new MemoryStore() });
    const out = join(root, 'tuned');
    await runTraining({ out, config, device, stream: quiet, tune: true });
    const lines = (await readLog(join(out, 'log.jsonl'))).filter((l): l is TuneLine => l.type === 'tune');
    expect(lines.length).toBeGreaterThan(0);
    // The first step's shapes are measured right after it.
    expect(lines[0]!.step).toBe(1);
    expect(lines[0]!.tuned).toBeGreaterThan(0);
    expect(lines.every((l) => l.seconds > 0 && l.pending >= 0)).toBe(true);
    expect(tuner.report().rows.filter((r) => r.status === 'tuned').length).toBe(lines.reduce((a, l) => a + l.tuned, 0));

    const idle = device.configureTuning({ ...tuning, store: new MemoryStore() });
    const plain = join(root, 'plain');
    await runTraining({ out: plain, config, device, stream: quiet });
    expect((await readLog(join(plain, 'log.jsonl'))).some((l) => l.type === 'tune')).toBe(false);
    expect(idle.pending).toBeGreaterThan(0);
  }, 300_000);
});
