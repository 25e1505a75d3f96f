import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noGrad, randn, tidy, type Device } from '../../src/index.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { readWeightsInfo } from '../../src/train/checkpoint.js';
import { loadModelFromWeights } from '../../src/hnfnet/weights.js';
import { runTraining } from '../../src/train/run.node.js';
import { readLog, type StepLine, type ValLine } from '../../src/train/run-log.node.js';
import { TrainProgress } from '../../src/train/progress.js';
import { command as plot } from '../../src/cli/plot-command.js';
import { getDevice } from '../helpers.js';

let device: Device;
let root: string;
beforeAll(async () => {
  device = await getDevice();
  root = await mkdtemp(join(tmpdir(), 'hnfnet-train-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('hnfnet train on phantoms', () => {
  it('tiny learns: the loss falls, held-out WT Dice passes 0.5, checkpoints load alone', async () => {
    const out = join(root, 'run');
    // Small phantoms and patches, and a higher rate without warm-up, so that a few epochs are
    // enough on a software GPU; everything else is the paper's recipe (Adam, poly decay,
    // Dice + BCE, augmentation, EM moving average).
    const config = resolveTrainConfig({
      model: 'tiny',
      data: { source: 'phantom:5', phantomSize: 40, foregroundProb: 0.8 },
      epochs: 8,
      stepsPerEpoch: 5,
      batch: 2,
      patch: 32,
      optimizer: { lr: 2e-2 },
      schedule: { warmupEpochs: 0 },
      folds: { fold: 0 },
      validation: { every: 4, maxCases: 1 },
    });
    const text: string[] = [];
    const started = performance.now();
    const r = await runTraining({ out, config, device, stream: { write: (s: string) => text.push(s) } });
    const secs = (performance.now() - started) / 1000;
    expect(r.reason).toBe('finished');
    expect(r.step).toBe(40);

    const log = await readLog(join(out, 'log.jsonl'));
    const steps = log.filter((l): l is StepLine => l.type === 'step');
    const vals = log.filter((l): l is ValLine => l.type === 'val');
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const first = mean(steps.slice(0, 5).map((s) => s.loss));
    const last = mean(steps.slice(-5).map((s) => s.loss));
    expect(vals.map((v) => v.epoch)).toEqual([4, 8]);
    console.log(
      `tiny on phantoms: ${secs.toFixed(0)} s; epoch-mean loss ${[0, 1, 2, 3, 4, 5, 6, 7].map((e) => mean(steps.slice(5 * e, 5 * e + 5).map((s) => s.loss)).toFixed(3)).join(' → ')}; ` +
        `WT Dice ${vals.map((v) => v.dice.WT.toFixed(3)).join(' → ')} (TC ${vals.at(-1)!.dice.TC.toFixed(3)}, ET ${vals.at(-1)!.dice.ET.toFixed(3)})`,
    );
    expect(last).toBeLessThan(first - 0.15);
    expect(vals.at(-1)!.dice.WT).toBeGreaterThan(0.5);
    expect(vals.at(-1)!.dice.WT).toBeGreaterThan(vals[0]!.dice.WT);
    // The learning rate followed the schedule down to the last step.
    expect(steps[0]!.lr).toBe(2e-2);
    expect(steps.at(-1)!.lr).toBeCloseTo(2e-2 * Math.pow(1 / 40, 0.9), 10);

    expect((await readdir(out)).sort()).toEqual(['best.safetensors', 'config.json', 'last.safetensors', 'last.train.safetensors', 'log.jsonl']);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(config)));
    // The weights files rebuild the model by themselves (what `hnfnet infer` does).
    const lastBytes = new Uint8Array(await readFile(join(out, 'last.safetensors')));
    const info = readWeightsInfo(lastBytes);
    expect([info.step, info.epoch, info.kind, info.preset]).toEqual([40, 8, 'last', 'tiny']);
    const { model, config: mc } = loadModelFromWeights(lastBytes, 'last.safetensors', { device });
    expect(mc.kind).toBe('hnfnet');
    const y = noGrad(() => tidy(() => model.call(randn([1, 4, 32, 32, 32], { seed: 1, device }))));
    expect(y.shape).toEqual([1, 3, 32, 32, 32]);
    y.dispose();
    model.dispose();
    const best = readWeightsInfo(new Uint8Array(await readFile(join(out, 'best.safetensors'))));
    expect(best.kind).toBe('best');
    expect(best.validation!.mean).toBe(Math.max(...vals.map((v) => v.mean)));

    const printed = text.join('');
    expect(printed).toMatch(/training tiny \(0\.\d\d M parameters\)/);
    expect(printed).toMatch(/validation after epoch 8 \(1 case, [\d.]+ s\): Dice WT 0\.\d{4}/);
    expect(printed).toMatch(/epoch 8\/8 step 5\/5 \(40\/40\)  loss [\d.]+ .* s\/step/);

    const code = await plot.run([out, '--no-png']);
    expect(code).toBe(0);
    const svg = await readFile(join(out, 'curves.svg'), 'utf8');
    expect(svg).toContain('Validation Dice');
    expect((svg.match(/<circle /g) ?? []).length).toBe(4 * 2);
  }, 420_000);

  it('on a terminal the epoch bar is redrawn in place with loss, lr, speed and ETA', () => {
    const text: string[] = [];
    const p = new TrainProgress({ write: (s: string) => text.push(s), isTTY: true, columns: 200 }, 2, 4);
    for (let i = 1; i <= 4; i++) p.step({ step: i, epoch: 0, loss: 1 / i, diceLoss: 0.5, bce: 0.5 / i, lr: 1e-3, seconds: 2, liveBytes: 0 });
    expect(text[0]).toMatch(/^\r\x1b\[Kepoch 1\/2 \[######\.{18}\] 1\/4  loss 1\.0000 .* lr 1\.00e-3  2\.00 s\/step  ETA 6s \(run 14s\)$/);
    expect(text.join('')).toContain('epoch 1/2 done: mean loss 0.5208');
  });
});
