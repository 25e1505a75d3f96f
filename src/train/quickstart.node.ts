/**
 * The whole job in one call, what `hnfnet start` (`npm start`) runs: phantom BraTS cases (or a
 * BraTS folder), a small HNF-Netv2 trained with the paper's recipe scaled down, the held-out case
 * segmented with sliding windows and flip TTA, evaluated, and the segmentation, metrics,
 * training curves and a figure written into one folder.
 */
import { basename, join, resolve } from 'node:path';
import { probeOutputDir, writeOutputFile } from '../data/atomic-write.node.js';
import { labelsToBrats } from '../data/brats-case.js';
import { listCaseDirs, loadCase, writePhantomCase, writeSegmentation } from '../data/case-files.node.js';
import { DataError } from '../data/errors.js';
import { encodePng } from '../data/png.js';
import { evaluateRegions } from '../eval/regions-metrics.js';
import type { CaseMetrics } from '../eval/regions-metrics.js';
import { segmentCase, type Segmentation } from '../infer/inferencer.js';
import { renderOverlay } from '../infer/overlay.js';
import { loadModelFile, readWeightsFile } from '../infer/segment-files.node.js';
import { loadModelFromWeights } from '../hnfnet/weights.js';
import type { Device } from '../tensor/device.js';
import '../tensor/device.node.js';
import { init, type Tensor } from '../tensor/tensor.js';
import { resolveTrainConfig } from './config.js';
import { curvesSummary, runCurves } from './run-curves.node.js';
import { runTraining } from './run.node.js';

/** The steps that report progress. */
export type QuickStartStage = 'phantoms' | 'segmenting';

/** Where the quick start reports; every member is optional (the default says nothing). */
export interface QuickStartReporter {
  /** `done` of `total` units of a step. */
  update?(stage: QuickStartStage, done: number, total: number): void;
  /** A step with progress is over; `message` says what it made. */
  finish?(stage: QuickStartStage, message: string): void;
  /** A line for the user. */
  log?(message: string): void;
}

export interface QuickStartOptions {
  /** The folder that gets everything. */
  out: string;
  /** A BraTS data set (a folder of case folders) instead of phantoms; its last case is held out. */
  data?: string;
  /** Weights to segment with instead of training. */
  weights?: string;
  /** Training steps (default 240, or 4 with `quick`). */
  steps?: number;
  /** A smoke run: 3 phantoms of 48³, 2 steps an epoch. */
  quick?: boolean;
  device?: Device;
  /** Training progress goes to stderr (runTraining's own lines); the rest to the reporter. */
  reporter?: QuickStartReporter;
  /** Checkpoint and stop on the first SIGINT/SIGTERM during training (see runTraining). */
  handleSignals?: boolean;
}

export interface QuickStartResult {
  out: string;
  /** The held-out case's id. */
  caseId: string;
  /** The weights that segmented it (trained into `out/run/` unless given). */
  weights: string;
  /** The segmentation written, `out/seg.nii.gz`; beside it metrics.json, overlay.png, and curves.svg when trained. */
  segmentation: string;
  /** Dice, HD95, sensitivity and specificity per region, when the held-out case has labels. */
  metrics: CaseMetrics | null;
  seconds: number;
}

/** The phantoms' size: 64³, or 48³ for a quick run. */
const phantomSize = (quick: boolean) => (quick ? 48 : 64);

/** Writes the phantom data set into `dir`: 9 cases (3 when quick). */
async function phantomData(dir: string, quick: boolean, report: QuickStartReporter): Promise<string[]> {
  const n = quick ? 3 : 9;
  const size = phantomSize(quick);
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    dirs.push(await writePhantomCase(dir, { size, seed: 1000 + i, id: `phantom-${String(i).padStart(3, '0')}` }));
    report.update?.('phantoms', i + 1, n);
  }
  report.finish?.('phantoms', `generated ${n} phantom cases of ${size}³ in ${dir}`);
  return dirs;
}

/** Trains the tiny model on every case but the last (a split file holds that one out); returns the weights. */
async function train(caseDirs: readonly string[], source: string, o: Required<Pick<QuickStartOptions, 'out' | 'steps' | 'quick'>>, device: Device, handleSignals: boolean, report: QuickStartReporter): Promise<string> {
  // The last case is fold 0 (held out), the rest fold 1 (trained on).
  const split = { training: caseDirs.map((d, i) => ({ fold: i === caseDirs.length - 1 ? 0 : 1, id: basename(d) })) };
  const splitFile = join(o.out, 'split.json');
  await writeOutputFile(splitFile, JSON.stringify(split, null, 2));
  const stepsPerEpoch = o.quick ? 2 : 12;
  const epochs = Math.max(1, Math.ceil(o.steps / stepsPerEpoch));
  // The paper's recipe, scaled to minutes: the tiny model, 32³ patches, batch 2, one warm-up
  // epoch of ~20, and a peak learning rate of 2e-2 (the paper's 1e-3 suits 250 epochs of a
  // full-width model; the tiny one, with a few hundred steps, needs larger steps).
  const config = resolveTrainConfig({
    model: 'tiny',
    seed: 0,
    data: { source, phantomSize: phantomSize(o.quick) },
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
  const runDir = join(o.out, 'run');
  await runTraining({ out: runDir, config, device, workers: 0, handleSignals });
  const curvesFile = join(o.out, 'curves.svg');
  const curves = await runCurves(join(runDir, 'log.jsonl'), runDir);
  await writeOutputFile(curvesFile, curves.svg);
  report.log?.(`wrote ${curvesFile} (${curvesSummary(curves)})`);
  return join(runDir, 'last.safetensors');
}

/**
 * Runs the quick start into `opts.out` (checked writable first): data, training (unless
 * `weights` is given), segmentation of the held-out case, its evaluation and figures.
 */
export async function runQuickStart(opts: QuickStartOptions): Promise<QuickStartResult> {
  const t0 = performance.now();
  const report = opts.reporter ?? {};
  const quick = opts.quick === true;
  const out = resolve(opts.out);
  await probeOutputDir(out);
  // Given weights and data are read before any work, so that a wrong path fails at once.
  const given = opts.weights === undefined ? null : { path: resolve(opts.weights), bytes: await readWeightsFile(resolve(opts.weights)) };
  const source = opts.data === undefined ? join(out, 'data') : resolve(opts.data);
  const dataSet = opts.data === undefined ? null : await listCaseDirs(source);
  const device = opts.device ?? (await init());
  report.log?.(`WebGPU adapter: ${device.adapterInfo}`);

  const caseDirs = dataSet ?? (await phantomData(source, quick, report));
  if (caseDirs.length < 2) throw new DataError(source, `holds ${caseDirs.length} case${caseDirs.length === 1 ? '' : 's'}; the quick start needs at least 2 (one is held out)`);
  const heldOut = caseDirs[caseDirs.length - 1]!;

  const weights = given?.path ?? (await train(caseDirs, source, { out, steps: opts.steps ?? (quick ? 4 : 240), quick }, device, opts.handleSignals === true, report));

  const { model, preset } = given ? loadModelFromWeights(given.bytes, given.path, { device }) : await loadModelFile(weights, { device });
  const c = await loadCase(heldOut);
  let seg: Segmentation;
  try {
    seg = await segmentCase(c, [(x: Tensor) => model.call(x)], {
      device,
      tta: 8,
      // The training patch size, as the paper does (128³ both): instance norm sees the same extent.
      window: 32,
      overlap: 0.5,
      crop: 'brain',
      onProgress: (done, total) => report.update?.('segmenting', done, total),
    });
  } finally {
    model.dispose();
  }
  report.finish?.('segmenting', `segmented ${c.id} with ${preset ?? 'the model'}: ${seg.windows} network calls`);
  const segmentation = join(out, 'seg.nii.gz');
  await writeSegmentation(segmentation, seg.labels, { grid: c.grid, naming: c.naming });

  const [X, Y, Z] = c.dims;
  const metrics = c.labels
    ? evaluateRegions(labelsToBrats(seg.labels, '2021'), labelsToBrats(c.labels, '2021'), [Z, Y, X], [c.spacing[2], c.spacing[1], c.spacing[0]], { etLabel: 4 })
    : null;
  await writeOutputFile(join(out, 'metrics.json'), JSON.stringify({ case: c.id, weights, ...(metrics ?? {}), seconds: (performance.now() - t0) / 1000 }, null, 2));
  const fig = renderOverlay(c.images[3]!, seg.labels, c.dims);
  await writeOutputFile(join(out, 'overlay.png'), encodePng(fig.rgba, fig.width, fig.height));
  return { out, caseId: c.id, weights, segmentation, metrics, seconds: (performance.now() - t0) / 1000 };
}
