/**
 * A training run in a folder: data checks, the split, model and optimizer, resume, the loop,
 * checkpoints, the JSON-lines log and progress. `hnfnet train` parses its flags into
 * TrainRunOptions and calls `runTraining`; tests call it directly.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { LoaderConfig } from '../data/loader.js';
import { buildModel, type SegmentationModel } from '../hnfnet/build.js';
import { weightsConfig } from '../hnfnet/weights.js';
import { sizeMultiple } from '../hnfnet/config.js';
import { encodeTrainState, encodeWeights, type TrainState, type ValidationResult } from './checkpoint.js';
import { foldPartition, foldsFromSplit, kFoldAssignment, parseSplitFile } from './splits.js';
import { configDifferences, modelSpec, type TrainConfig } from './config.js';
import { trainLoop, type StopReason } from './loop.js';
import { Trainer } from './trainer.js';
import { validateCases } from './validate.js';
import { Adam } from '../nn/optim/adam.js';
import { loadStateDict } from '../nn/state-dict.js';
import type { Device } from '../tensor/device.js';
import { HnfnetError } from '../tensor/errors.js';
import { defaultGenerator } from '../tensor/random.js';
import '../tensor/device.node.js';
import { init } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic-file.node.js';
import { describeFsError, probeOutputDir } from '../data/atomic-write.node.js';
import { LAST, readLastCheckpoint, removeStaleTemps, writeBestCheckpoint, writeLastCheckpoint } from './checkpoint-files.node.js';
import { TrainProgress, type ProgressStream } from './progress.js';
import { RunLog, stepLine, valLine } from './run-log.node.js';
import { openDataSet, type DataSet } from './data.node.js';
import type { LoadedCheckpoint } from './checkpoint-files.node.js';

export interface TrainRunOptions {
  out: string;
  /** The resolved configuration of a new run. A resume takes the checkpoint's instead. */
  config: TrainConfig;
  /**
   * Settings the user gave explicitly (dotted path → value). A resume refuses to change any of
   * them (it would no longer be the run it continues), except those in RESUME_MUTABLE.
   */
  explicit?: Record<string, unknown>;
  resume?: boolean;
  /** Loader worker threads (folder data); 0 builds batches on this thread. */
  workers?: number;
  /** Stop with a checkpoint after this many steps of this session. */
  stopAfterSteps?: number;
  /**
   * Measure the kernel variants each new shape queues, between steps, within the tuner's
   * budget (device.tuner), and cache the fastest. Off by default: a variant picked mid-run
   * changes results by float rounding, so a resumed run would no longer repeat an
   * uninterrupted one bit for bit, and the measuring costs time that a short run never earns back.
   */
  tune?: boolean;
  device?: Device;
  /** Where progress and messages go (default stderr). */
  stream?: ProgressStream;
  /** Stop cleanly (checkpoint, exit) on the first SIGINT/SIGTERM, abort on the second. */
  handleSignals?: boolean;
}

export interface TrainRunResult {
  reason: StopReason;
  step: number;
  stepsPerEpoch: number;
  best: ValidationResult | null;
  runId: string;
}

/** Settings a resumed run may change: they do not alter what is computed. */
export const RESUME_MUTABLE: readonly string[] = ['checkpoint.every', 'validation.maxCases', 'activationCheckpointing'];

const LOCK = 'train.lock';

/** Signals within this many milliseconds of the first are copies of it (see onSignal). */
const SAME_SIGNAL_MS = 1000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One trainer per run folder: a second one would interleave checkpoints. A dead owner's lock is taken over. */
async function lockRun(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.write(String(process.pid));
      await fh.close();
      return () => unlink(path).catch(() => {});
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new HnfnetError(`${dir} is in use by another training process (pid ${pid}); remove ${path} if that is wrong`);
      await unlink(path).catch(() => {});
    }
  }
  throw new HnfnetError(`${dir}: could not take ${LOCK}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The run's configuration: a new run's, or the checkpoint's with the settings a resume may change. */
function runConfig(o: TrainRunOptions, ckpt: LoadedCheckpoint | null, say: (s: string) => void): TrainConfig {
  const cfg: TrainConfig = ckpt ? ckpt.state.config : o.config;
  if (ckpt) {
    if (ckpt.recoveredFrom) say(`checkpoint: completed a torn pair from ${ckpt.recoveredFrom}`);
    const changed = Object.entries(o.explicit ?? {}).flatMap(([path, v]) => {
      const stored = pick(cfg, path);
      return configDifferences(stored, v).length && !RESUME_MUTABLE.includes(path) ? [`${path} (run: ${JSON.stringify(stored)}, given: ${JSON.stringify(v)})`] : [];
    });
    if (changed.length) throw new HnfnetError(`--resume continues the run with its own settings; these differ: ${changed.join('; ')}. Start a new run (another --out) to change them.`);
    for (const path of RESUME_MUTABLE) {
      const v = o.explicit?.[path];
      if (v === undefined) continue;
      const keys = path.split('.');
      const parent = keys.slice(0, -1).reduce<Record<string, unknown>>((acc, k) => acc[k] as Record<string, unknown>, cfg as unknown as Record<string, unknown>);
      parent[keys[keys.length - 1]!] = v;
    }
  }
  return cfg;
}

/** Loads a weights file into the run's fresh model, refusing one of another model (fine-tuning). */
async function loadPretrained(model: SegmentationModel, path: string): Promise<void> {
  const bytes = await readFile(path).catch((e: unknown) => {
    throw new HnfnetError(`--pretrained ${path}: cannot read it (${describeFsError(e)})`);
  });
  const { config } = weightsConfig(bytes, path);
  const differ = configDifferences(config, model.config);
  if (differ.length) {
    throw new HnfnetError(`--pretrained ${path}: its weights are of another model than this run trains (${differ.map((k) => `${k}: file ${JSON.stringify(pick(config, k))}, run ${JSON.stringify(pick(model.config, k))}`).join('; ')})`);
  }
  loadStateDict(model, bytes, { source: path });
}

/** The value at a dotted path of a nested object (undefined where the path leads nowhere). */
function pick(v: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((acc, k) => (acc as Record<string, unknown> | undefined)?.[k], v);
}

/** The fold split of the data set, checked against the run's own when resuming. */
async function splitRun(cfg: TrainConfig, data: DataSet, ckpt: LoadedCheckpoint | null, say: (s: string) => void) {
  let assignment: number[];
  if (cfg.folds.splitFile) {
    const entries = parseSplitFile(await readFile(cfg.folds.splitFile, 'utf8'), cfg.folds.splitFile);
    const m = foldsFromSplit(entries, data.ids, data.aliases, cfg.folds.count, cfg.folds.splitFile);
    if (m.unmatched) say(`split file: ${m.unmatched} entr${m.unmatched > 1 ? 'ies name cases' : 'y names a case'} not in the data set (ignored)`);
    assignment = m.folds;
  } else assignment = kFoldAssignment(data.ids, cfg.folds.count, cfg.folds.seed);
  const part = foldPartition(assignment, cfg.folds.fold);
  const valIndices = cfg.validation.maxCases === null ? part.val : part.val.slice(0, cfg.validation.maxCases);
  const cases = { train: part.train.map((i) => data.ids[i]!), val: part.val.map((i) => data.ids[i]!) };
  if (ckpt && !(sameList(cases.train, ckpt.state.cases.train) && sameList(cases.val, ckpt.state.cases.val))) {
    throw new HnfnetError(`--resume: the data set no longer splits into the cases the run was trained on (${ckpt.state.cases.train.length} train / ${ckpt.state.cases.val.length} validation then, ${cases.train.length} / ${cases.val.length} now)`);
  }
  const spe = cfg.stepsPerEpoch ?? Math.ceil(part.train.length / cfg.batch);
  if (ckpt && ckpt.state.stepsPerEpoch !== spe) throw new HnfnetError(`--resume: ${spe} steps per epoch now, ${ckpt.state.stepsPerEpoch} in the run`);
  return { part, valIndices, cases, spe };
}

/** Stop cleanly (checkpoint, exit) on the first SIGINT/SIGTERM, abort on the second. */
function stopOnSignals(progress: TrainProgress, cleanups: (() => unknown)[], out: string): () => boolean {
  let stopRequested = false;
  let firstAt = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    const now = performance.now();
    if (stopRequested) {
      // One Ctrl-C reaches this process more than once: the terminal signals the whole process
      // group, and launchers in it (npm, tsx) relay the signal to their child too. Copies that
      // arrive together are one request; a second press comes later.
      if (now - firstAt < SAME_SIGNAL_MS) return;
      progress.message(`${sig} again: aborting without a checkpoint (the previous one is intact)`);
      // process.exit skips the run's finally: the lock goes here.
      try {
        unlinkSync(join(out, LOCK));
      } catch {
        // already gone
      }
      process.exit(130);
    }
    stopRequested = true;
    firstAt = now;
    progress.message(`${sig}: stopping after this step and writing a checkpoint (${sig} again aborts)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  cleanups.push(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  return () => stopRequested;
}

export async function runTraining(o: TrainRunOptions): Promise<TrainRunResult> {
  const stream = o.stream ?? process.stderr;
  const say = (s: string) => void stream.write(s + '\n');
  await probeOutputDir(o.out);
  const unlock = await lockRun(o.out);
  const cleanups: (() => unknown)[] = [unlock];
  try {
    // ---- configuration: a new run's, or the checkpoint's -----------------------------------
    const ckpt = o.resume ? await readLastCheckpoint(o.out) : null;
    if (!o.resume && (await exists(join(o.out, LAST)))) throw new HnfnetError(`${o.out} already holds a checkpoint; pass --resume to continue that run, or choose another --out`);
    const cfg = runConfig(o, ckpt, say);

    // ---- data and split -------------------------------------------------------------------
    const data = await openDataSet(cfg);
    const { part, valIndices, cases, spe } = await splitRun(cfg, data, ckpt, say);

    // ---- model and optimizer --------------------------------------------------------------
    const device = o.device ?? (await init());
    const { preset, spec } = modelSpec(cfg);
    const model = buildModel(spec, { device, seed: cfg.seed, activationCheckpointing: cfg.activationCheckpointing ?? 'none' });
    cleanups.push(() => model.dispose());
    const mult = sizeMultiple(model.config);
    const window = cfg.validation.window ?? cfg.patch;
    for (const [what, size] of [['patch', cfg.patch], ['validation window', window]] as const) {
      if (size.some((s) => s % mult !== 0)) throw new HnfnetError(`${what} ${size.join('×')}: every side must be a multiple of ${mult} for ${preset}`);
    }
    const o2 = cfg.optimizer;
    const optimizer = new Adam(model, { lr: o2.lr, betas: o2.betas, eps: o2.eps, weightDecay: o2.weightDecay });
    cleanups.push(() => optimizer.dispose());
    // On a resume the checkpoint's weights win: the pretrained ones were where the run began.
    const pretrained = ckpt ? null : (cfg.pretrained ?? null);
    if (pretrained) {
      await loadPretrained(model, pretrained);
      say(`started from the weights of ${pretrained}`);
    }
    let runId = randomBytes(6).toString('hex');
    let startStep = 0;
    let best: ValidationResult | null = null;
    if (ckpt) {
      loadStateDict(model, ckpt.weights, { source: join(o.out, LAST) });
      optimizer.loadState(ckpt.train, join(o.out, 'last.train.safetensors'));
      const g = ckpt.state.rng.tensorGenerator.map((v) => (v === null ? NaN : v));
      defaultGenerator().setState(g);
      runId = ckpt.state.runId;
      startStep = ckpt.state.step;
      best = ckpt.state.best;
      await removeStaleTemps(o.out);
    } else {
      await writeFileAtomic(join(o.out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    }
    const total = cfg.epochs * spe;
    if (startStep >= total) say(`the run is complete (${startStep}/${total} steps)`);

    // ---- log, progress, loader -------------------------------------------------------------
    const log = await RunLog.open(join(o.out, 'log.jsonl'), ckpt ? startStep : null);
    cleanups.push(() => log.close());
    const progress = new TrainProgress(stream, cfg.epochs, spe);
    const params = model.parameterCount();
    progress.message(
      `${ckpt ? `resuming at step ${startStep}/${total} (epoch ${Math.floor(startStep / spe)})` : 'training'} ${preset} (${(params / 1e6).toFixed(2)} M parameters) on ${device.adapterInfo}; ` +
        `${data.description}: ${part.train.length} train${cfg.folds.fold !== null ? `, ${part.val.length} held out (fold ${cfg.folds.fold} of ${cfg.folds.count})` : ''}; ` +
        `${cfg.epochs} epochs × ${spe} steps, batch ${cfg.batch}${cfg.accumulate > 1 ? ` (${cfg.accumulate} × ${cfg.batch / cfg.accumulate})` : ''}, patch ${cfg.patch.join('×')}; run ${runId} in ${o.out}`,
    );
    await log.append({
      type: 'start',
      step: startStep,
      steps_per_epoch: spe,
      epochs: cfg.epochs,
      resumed: !!ckpt,
      time: new Date().toISOString(),
      model: preset,
      train_cases: part.train.length,
      val_cases: valIndices.length,
      ...(pretrained ? { pretrained } : {}),
    });
    const loaderConfig: LoaderConfig = {
      batchSize: cfg.batch,
      patchSize: cfg.patch,
      foregroundProb: cfg.data.foregroundProb,
      augment: cfg.data.augment,
      seed: cfg.seed,
      shuffle: true,
    };
    const loader = data.loader(part.train, loaderConfig, { workers: o.workers ?? 0, startStep });
    cleanups.push(() => loader.close());
    const valProvider = valIndices.length ? data.provider(valIndices) : null;

    // ---- checkpoints ----------------------------------------------------------------------
    const trainer = new Trainer(model, optimizer, {
      schedule: { baseLr: o2.lr, epochs: cfg.epochs, warmupEpochs: cfg.schedule.warmupEpochs, power: cfg.schedule.power, stepsPerEpoch: spe, perStep: cfg.schedule.perStep },
      loss: cfg.loss,
      accumulate: cfg.accumulate,
      startStep,
    });
    const trainState = (b: ValidationResult | null): TrainState => ({
      runId,
      step: trainer.step,
      epoch: Math.floor(trainer.step / spe),
      stepsPerEpoch: spe,
      best: b,
      rng: { tensorGenerator: defaultGenerator().getState().map((v) => (Number.isNaN(v) ? null : v)) },
      config: cfg,
      cases,
    });
    const weightsInfo = (kind: 'last' | 'best', validation: ValidationResult | null) => ({
      preset,
      runId,
      step: trainer.step,
      epoch: Math.floor(trainer.step / spe),
      kind,
      validation,
    });

    // ---- signals ----------------------------------------------------------------------------
    const stopRequested = o.handleSignals ? stopOnSignals(progress, cleanups, o.out) : () => false;

    const result = await trainLoop({
      trainer,
      batches: loader,
      epochs: cfg.epochs,
      stepsPerEpoch: spe,
      validateEvery: cfg.validation.every,
      checkpointEvery: cfg.checkpoint.every,
      best,
      ...(o.stopAfterSteps !== undefined ? { stopAfterSteps: o.stopAfterSteps } : {}),
      shouldStop: stopRequested,
      ...(o.tune ? { betweenSteps: () => tuneBetweenSteps(device, trainer.step, progress, log) } : {}),
      onStep: async (r) => {
        progress.step(r);
        await log.append(stepLine(r));
      },
      ...(valProvider
        ? {
            validate: (at: { epoch: number; step: number }) =>
              validateCases(
                model,
                valProvider,
                valIndices.map((_, i) => i),
                { window, overlap: cfg.validation.overlap, tta: cfg.validation.tta, threshold: cfg.validation.threshold, device },
                at,
              ),
          }
        : {}),
      onValidation: async (v, improved) => {
        progress.message(
          `validation after epoch ${v.epoch} (${v.cases} case${v.cases > 1 ? 's' : ''}, ${v.seconds.toFixed(1)} s): Dice WT ${v.dice.WT.toFixed(4)}  TC ${v.dice.TC.toFixed(4)}  ET ${v.dice.ET.toFixed(4)}  mean ${v.mean.toFixed(4)}${improved ? '  (best so far)' : ''}`,
        );
        await log.append(valLine(v, improved));
      },
      saveBest: async (v) => {
        await writeBestCheckpoint(o.out, await encodeWeights(model, weightsInfo('best', v)));
      },
      saveLast: async (b) => {
        const weights = await encodeWeights(model, weightsInfo('last', null));
        const train = await encodeTrainState(optimizer, trainState(b));
        await writeLastCheckpoint(o.out, weights, train);
      },
    });
    await log.append({ type: 'stop', step: result.step, reason: result.reason, time: new Date().toISOString() });
    const b = result.best;
    progress.message(
      `${result.reason === 'finished' ? 'finished' : 'stopped'} at step ${result.step}/${total}; checkpoint ${join(o.out, LAST)}${b ? `; best mean Dice ${b.mean.toFixed(4)} after epoch ${b.epoch} (${join(o.out, 'best.safetensors')})` : ''}`,
    );
    return { reason: result.reason, step: result.step, stepsPerEpoch: spe, best: result.best, runId };
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

/** Measures what the tuner has queued (nothing when nothing is), logs and reports it. */
async function tuneBetweenSteps(device: Device, step: number, progress: TrainProgress, log: RunLog): Promise<void> {
  const tuner = device.tuner;
  if (tuner.mode === 'off' || tuner.pending === 0) return;
  const before = tuner.pending;
  const t0 = performance.now();
  await tuner.tunePending();
  const seconds = (performance.now() - t0) / 1000;
  const tuned = before - tuner.pending;
  progress.message(`tuned ${tuned} kernel shape${tuned === 1 ? '' : 's'} in ${seconds.toFixed(1)} s${tuner.pending ? ` (${tuner.pending} left for later steps)` : ''}`);
  await log.append({ type: 'tune', step, tuned, pending: tuner.pending, seconds });
}
