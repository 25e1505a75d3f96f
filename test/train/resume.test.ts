import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../../src/index.js';
import { decodeSafetensors } from '../../src/nn/safetensors.js';
import { readWeightsInfo } from '../../src/train/checkpoint.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { loadModelFromWeights } from '../../src/hnfnet/weights.js';
import { parseArgs } from '../../src/cli/args.js';
import { flagLayer } from '../../src/cli/train-command.js';
import { runTraining } from '../../src/train/run.node.js';
import { readLog, type StepLine } from '../../src/train/run-log.node.js';
import { getDevice } from '../helpers.js';

// 4 epochs × 2 steps of tiny on 16³ crops: small enough to run three times and spawn twice.
const FLAGS = ['--phantoms', '4', '--phantom-size', '32', '--model', 'tiny', '--patch', '16', '--batch', '2', '--epochs', '4', '--steps-per-epoch', '2', '--lr', '3e-3', '--warmup', '1'];
const config = () => resolveTrainConfig(flagLayer(parseArgs(FLAGS)));

let device: Device;
let root: string;
let reference: StepLine[];
let referenceWeights: Map<string, Uint8Array>;
const quiet = { write: () => true };

async function stepsOf(run: string): Promise<StepLine[]> {
  return (await readLog(join(run, 'log.jsonl'))).filter((l): l is StepLine => l.type === 'step');
}

async function tensorsOf(path: string): Promise<Map<string, Uint8Array>> {
  return new Map([...decodeSafetensors(new Uint8Array(await readFile(path))).tensors].map(([k, t]) => [k, t.bytes]));
}

function expectSameWeights(got: Map<string, Uint8Array>, want: Map<string, Uint8Array>): void {
  expect([...got.keys()]).toEqual([...want.keys()]);
  const differ = [...want].filter(([k, b]) => !Buffer.from(b).equals(Buffer.from(got.get(k)!))).map(([k]) => k);
  expect(differ, 'tensors that differ from the uninterrupted run').toEqual([]);
}

beforeAll(async () => {
  device = await getDevice();
  root = await mkdtemp(join(tmpdir(), 'hnfnet-resume-'));
  const out = join(root, 'reference');
  const r = await runTraining({ out, config: config(), device, stream: quiet });
  expect(r.step).toBe(8);
  reference = await stepsOf(out);
  referenceWeights = await tensorsOf(join(out, 'last.safetensors'));
}, 300_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('resuming a run', () => {
  it('stopped mid-epoch and resumed, the run has exactly the losses and weights of the uninterrupted one', async () => {
    const out = join(root, 'stopped');
    const first = await runTraining({ out, config: config(), device, stream: quiet, stopAfterSteps: 3 });
    expect([first.reason, first.step]).toEqual(['stop-after', 3]);
    expect(readWeightsInfo(new Uint8Array(await readFile(join(out, 'last.safetensors')))).step).toBe(3);
    // A resume rebuilds everything from the files: a fresh model, the weights, Adam's moments, the step.
    const second = await runTraining({ out, config: config(), device, stream: quiet, resume: true });
    expect([second.reason, second.step]).toEqual(['finished', 8]);
    const steps = await stepsOf(out);
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const [i, s] of steps.entries()) {
      expect(Math.abs(s.loss - reference[i]!.loss), `step ${s.step}: ${s.loss} vs ${reference[i]!.loss}`).toBeLessThanOrEqual(1e-6);
      expect(s.lr).toBe(reference[i]!.lr);
    }
    expect(steps.map((s) => s.loss)).toEqual(reference.map((s) => s.loss));
    expectSameWeights(await tensorsOf(join(out, 'last.safetensors')), referenceWeights);
    // A resume keeps the run's own settings: changing one is refused.
    await expect(runTraining({ out, config: config(), device, stream: quiet, resume: true, explicit: { 'optimizer.lr': 1e-2 } })).rejects.toThrow(
      /--resume continues the run with its own settings; these differ: optimizer\.lr \(run: 0\.003, given: 0\.01\)/,
    );
    // And a new run never silently overwrites a run folder.
    await expect(runTraining({ out, config: config(), device, stream: quiet })).rejects.toThrow(/already holds a checkpoint; pass --resume/);
  }, 300_000);

  it('killed while writing a checkpoint: the previous one still loads, and --resume continues from it to the same result', async () => {
    const out = join(root, 'killed');
    const cli = (extra: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'train', '--out', out, '--workers', '0', ...extra], {
          cwd: join(import.meta.dirname, '..', '..'),
          env: { ...process.env, ...env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
      });
    // The second checkpoint (after epoch 2, step 4) dies half-way through its weights temp file.
    const crashed = await cli(FLAGS, { HNFNET_TEST_CRASH_DURING_CHECKPOINT: '2' });
    expect(crashed.signal === 'SIGKILL' || crashed.code === 137, `exit ${crashed.code} ${crashed.signal}: ${crashed.stderr}`).toBe(true);
    const files = await readdir(out);
    const tmp = files.find((f) => /^last\.safetensors\.tmp-\d+$/.test(f));
    expect(tmp, `files: ${files.join(', ')}`).toBeDefined();
    const half = await readFile(join(out, tmp!));
    const intact = new Uint8Array(await readFile(join(out, 'last.safetensors')));
    expect(half.byteLength).toBe(Math.floor(intact.byteLength / 2));
    // The checkpoint of epoch 1 is intact and loads on its own.
    expect(readWeightsInfo(intact).step).toBe(2);
    const { model } = loadModelFromWeights(intact, 'last.safetensors', { device });
    model.dispose();
    expect((await stepsOf(out)).map((s) => s.step)).toEqual([1, 2, 3, 4]);

    const resumed = await cli(['--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at step 2\/8 \(epoch 1\)/);
    const steps = await stepsOf(out);
    // Steps 3 and 4 ran twice (before the kill and after the resume); the log keeps one of each.
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const [i, s] of steps.entries()) expect(Math.abs(s.loss - reference[i]!.loss), `step ${s.step}`).toBeLessThanOrEqual(1e-6);
    expectSameWeights(await tensorsOf(join(out, 'last.safetensors')), referenceWeights);
    expect((await readdir(out)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 300_000);
});
