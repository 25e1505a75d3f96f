/**
 * `npm start` / `hnfnet start`: the whole job on the embedded default. Generate phantom BraTS
 * cases, train a small HNF-Netv2 with the paper's recipe scaled down, segment a held-out case
 * with sliding windows and test-time augmentation, evaluate it, and write the segmentation,
 * the metrics, the training curves and a figure into one folder.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from './commands.js';
import { checkKnown, optFlag, optNumber, optString, parseArgs, UsageError } from './args.js';
import { runTraining } from '../train/run.node.js';
import { command as plotCommand } from './plot-command.js';
import { Progress } from './progress.js';
import { init } from '../index.js';
import { listCaseDirs, loadCase, writePhantomCase, writeSegmentation } from '../data/index.node.js';
import { encodePng } from '../data/png.js';
import { labelsToBrats } from '../data/brats-case.js';
import type { Region } from '../data/regions.js';
import { probeOutputDir, writeOutputFile } from '../data/atomic-write.node.js';
import { resolveTrainConfig } from '../train/config.js';
import { loadModelFromWeights } from '../hnfnet/weights.js';
import { segmentCase } from '../infer/inferencer.js';
import { renderOverlay } from '../infer/overlay.js';
import { evaluateRegions } from '../eval/index.js';
import type { Tensor } from '../tensor/tensor.js';

const USAGE = `hnfnet start [--out DIR] [--data DIR] [--model W.safetensors] [--steps N] [--quick]

With no options: generates 9 phantom BraTS cases (64³), trains the tiny HNF-Netv2 on 8 of them,
segments the 9th with sliding windows and 8-fold flip TTA, evaluates it against its labels,
and writes into DIR (default out/quickstart): seg.nii.gz, metrics.json, curves.svg,
overlay.png, and the training run (run/: weights, log). 3–6 minutes on a 2-core CPU with a
software GPU (under 15).
  --data DIR     a BraTS folder instead of phantoms: the last case is held out
  --model W      skip training and segment with these weights
  --steps N      training steps (default 240)
  --quick        a smoke run (tiny data, a few steps), for tests`;

export const command: Command = {
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, ['quick']);
    checkKnown(a, ['out', 'data', 'model', 'steps', 'quick'], 'start');
    const quick = optFlag(a, 'quick');
    const out = resolve(optString(a, 'out') ?? 'out/quickstart');
    const weightsIn = optString(a, 'model');
    const steps = optNumber(a, 'steps') ?? (quick ? 4 : 240);
    const size = quick ? 48 : 64;
    const t0 = performance.now();
    const say = (s: string) => console.error(s);
    say(
      `hnfnet start → ${out}\n` +
        (quick ? 'quick smoke run.\n' : 'Expect 3–6 minutes on a 2-core machine without a GPU (under 15), less on a GPU.\n') +
        `steps: data, ${weightsIn ? 'load weights' : `train ${steps} steps`}, segment the held-out case (sliding windows, TTA 8), evaluate, write outputs.`,
    );
    await probeOutputDir(out);
    const device = await init();
    say(`WebGPU adapter: ${device.adapterInfo}`);

    // ---- data -----------------------------------------------------------------------------
    let caseDirs: string[];
    const dataArg = optString(a, 'data');
    if (dataArg) caseDirs = await listCaseDirs(resolve(dataArg));
    else {
      const dir = join(out, 'data');
      const n = quick ? 3 : 9;
      const bar = new Progress({ label: 'phantoms', total: n, unit: 'cases' });
      caseDirs = [];
      for (let i = 0; i < n; i++) {
        caseDirs.push(await writePhantomCase(dir, { size, seed: 1000 + i, id: `phantom-${String(i).padStart(3, '0')}` }));
        bar.update(i + 1);
      }
      bar.done(`generated ${n} phantom cases of ${size}³ in ${dir}`);
    }
    if (caseDirs.length < 2) throw new UsageError(`hnfnet start: need at least 2 cases (one is held out), found ${caseDirs.length}`);
    const heldOut = caseDirs[caseDirs.length - 1]!;

    // ---- training ---------------------------------------------------------------------------
    let weights = weightsIn ? resolve(weightsIn) : '';
    const runDir = join(out, 'run');
    if (!weightsIn) {
      // A split file holds the last case out (fold 0) and trains on the rest (fold 1).
      const split = { training: caseDirs.map((d, i) => ({ fold: i === caseDirs.length - 1 ? 0 : 1, id: basename(d) })) };
      const splitFile = join(out, 'split.json');
      await writeOutputFile(splitFile, JSON.stringify(split, null, 2));
      const stepsPerEpoch = quick ? 2 : 12;
      const epochs = Math.max(1, Math.ceil(steps / stepsPerEpoch));
      // The paper's recipe, scaled to minutes: the tiny model, 32³ patches, batch 2, one warm-up
      // epoch of ~20, and a peak learning rate of 2e-2 (the paper's 1e-3 suits 250 epochs of a
      // full-width model; the tiny one, with a few hundred steps, needs larger steps).
      const cfg = resolveTrainConfig({
        model: 'tiny',
        seed: 0,
        data: { source: dataArg ? resolve(dataArg) : join(out, 'data'), phantomSize: size },
        epochs,
        stepsPerEpoch,
        batch: 2,
        patch: [32, 32, 32],
        optimizer: { lr: 2e-2 },
        schedule: { warmupEpochs: 1 },
        folds: { count: 2, fold: 0, splitFile },
        validation: { every: epochs, window: [32, 32, 32], overlap: 0.25, tta: 1, maxCases: 1 },
        checkpoint: { every: Math.max(1, Math.floor(epochs / 4)) },
      });
      await runTraining({ out: runDir, config: cfg, device, workers: 0, handleSignals: true });
      weights = join(runDir, 'last.safetensors');
      await plotCommand.run([runDir, '--out', join(out, 'curves.svg'), '--no-png']);
    }

    // ---- segmentation of the held-out case ---------------------------------------------------
    const { model, preset } = loadModelFromWeights(new Uint8Array(await readFile(weights)), weights, { device });
    const c = await loadCase(heldOut);
    let bar: Progress | null = null;
    const seg = await segmentCase(c, [(x: Tensor) => model.call(x)], {
      device,
      tta: 8,
      // The training patch size, as the paper does (128³ both): instance norm sees the same extent.
      window: 32,
      overlap: 0.5,
      crop: 'brain',
      onProgress: (done, total) => {
        bar ??= new Progress({ label: 'segmenting', total, unit: 'net calls' });
        bar.update(done);
      },
    });
    (bar as Progress | null)?.done(`segmented ${c.id} with ${preset ?? 'the model'}: ${seg.windows} network calls`);
    model.dispose();
    const segPath = join(out, 'seg.nii.gz');
    await writeSegmentation(segPath, seg.labels, { grid: c.grid, naming: c.naming });

    // ---- evaluation and figures ---------------------------------------------------------------
    const [X, Y, Z] = c.dims;
    const metrics = c.labels
      ? evaluateRegions(labelsToBrats(seg.labels, '2021'), labelsToBrats(c.labels, '2021'), [Z, Y, X], [c.spacing[2], c.spacing[1], c.spacing[0]], { etLabel: 4 })
      : null;
    const report = { case: c.id, weights, ...(metrics ?? {}), seconds: (performance.now() - t0) / 1000 };
    await writeOutputFile(join(out, 'metrics.json'), JSON.stringify(report, null, 2));
    const fig = renderOverlay(c.images[3]!, seg.labels, c.dims);
    await writeOutputFile(join(out, 'overlay.png'), encodePng(fig.rgba, fig.width, fig.height));
    const secs = (performance.now() - t0) / 1000;
    if (metrics) {
      const row = (r: Region) => `${r} Dice ${metrics[r].dice.toFixed(3)}, HD95 ${metrics[r].hd95.toFixed(1)} mm`;
      say(`held-out ${c.id}: ${row('WT')}; ${row('TC')}; ${row('ET')}`);
    }
    say(`wrote ${segPath}, metrics.json, ${weightsIn ? '' : 'curves.svg, '}overlay.png in ${out}`);
    say(`done in ${(secs / 60).toFixed(1)} min`);
    // The phantom model means nothing on real scans; the shipped weights do (models/README.md).
    say('to segment a real BraTS case with the shipped weights: npm run hnfnet -- infer --case CASE_DIR --out seg.nii.gz');
    return 0;
  },
};
