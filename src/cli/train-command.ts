/** `hnfnet train`: flags and config file → a TrainConfig → runTraining (src/train/run.node.ts). */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PRESET_NAMES } from '../hnfnet/config.js';
import { DEFAULT_TRAIN_CONFIG, overrideFromAssignment, resolveTrainConfig } from '../train/config.js';
import { checkKnown, optFlag, optNumber, optString, parseArgs, UsageError, type ParsedArgs } from './args.js';
import type { Command } from './commands.js';
import { runTraining } from '../train/run.node.js';
import { describeFsError } from '../data/atomic-write.node.js';

const D = DEFAULT_TRAIN_CONFIG;
const USAGE = `hnfnet train --out RUN (--data DIR | --data phantom:N | --phantoms N) [options]
       hnfnet train --out RUN --resume

Trains a segmentation model with the paper's recipe (every value below can also come from
--config FILE.json, nested as in RUN/config.json, or from --set key=value; flags win over the
file, --set over both).

data
  --data DIR            a folder of BraTS case folders (each: *_t1, *_t1ce, *_t2, *_flair, *_seg
                        .nii[.gz], or the 2023 names); every case's headers are checked first
  --data phantom:N[:S]  N generated phantom cases (data seed S, default 0); --phantoms N is short for it
  --phantom-size N      phantom edge length (default ${D.data.phantomSize})
  --fold K              hold out fold K (0-based) for validation, train on the others
                        (default: train on all cases, no validation)
  --folds N             number of folds (default ${D.folds.count})
  --split FILE          fold assignment from a MONAI-style JSON ({"training": [{"fold": k, "image": [...]}]})
  --no-augment          switch augmentation off (default: flips, rotations, intensity, as the paper)
model and optimisation
  --model NAME          ${PRESET_NAMES.join('|')} (default ${String(D.model)})
  --epochs N            (default ${D.epochs}); an epoch is --steps-per-epoch steps
  --steps-per-epoch N   (default ⌈training cases / batch⌉)
  --batch N             samples per step (default ${D.batch})
  --accumulate N        split each batch into N micro-batches (gradient accumulation; default 1)
  --activation-checkpointing none|pmf
                        pmf: recompute each PMF module's activations in backward instead of keeping
                        them (less memory per step, same results, a slower step; default ${D.activationCheckpointing})
  --patch N|X,Y,Z       training crop (default ${D.patch.join(',')})
  --lr X                peak learning rate (default ${D.optimizer.lr}); warm-up, then × (1 − epoch/epochs)^0.9
  --warmup N            warm-up epochs (default ${D.schedule.warmupEpochs})
  --weight-decay X      L2 weight decay (default ${D.optimizer.weightDecay})
  --seed N              weights, data order, crops, augmentation (default ${D.seed})
  --pretrained FILE     start from the weights of FILE (a .safetensors of the same model, e.g. another
                        run's last.safetensors) instead of seeded ones: fine-tuning; the optimizer and
                        the schedule start afresh (on --resume the checkpoint's weights win)
validation and checkpoints
  --val-every N         validate every N epochs and after the last (default ${D.validation.every})
  --val-window N|X,Y,Z  sliding window (default: the patch size); --val-overlap X (default ${D.validation.overlap}); --val-tta 1|8
  --checkpoint-every N  write RUN/last.* every N epochs (default ${D.checkpoint.every}); always at the end and on Ctrl-C
  --resume              continue RUN from its last checkpoint, exactly where it stopped
  --stop-after N        stop (with a checkpoint) after N steps of this session
  --workers N           loader threads for folder data (default: cores − 1, at most 4)
  --tune                measure kernel variants for each new shape between steps (see hnfnet tune)
                        and cache the fastest; the time is logged (off by default: a resumed run
                        then repeats an uninterrupted one bit for bit)
  --config FILE.json    settings file; --set key=value sets any one (e.g. --set optimizer.betas=[0.9,0.99])

Writes RUN/config.json, RUN/log.jsonl (every step and validation), RUN/last.safetensors
(weights, loadable by hnfnet infer), RUN/last.train.safetensors (optimizer and run state) and
RUN/best.safetensors (best mean validation Dice). Plot with: hnfnet plot RUN`;

const KNOWN = [
  'data', 'phantoms', 'phantom-size', 'out', 'model', 'fold', 'folds', 'split', 'no-augment', 'epochs', 'steps-per-epoch', 'batch', 'accumulate', 'activation-checkpointing', 'patch', 'lr',
  'warmup', 'weight-decay', 'seed', 'pretrained', 'val-every', 'val-window', 'val-overlap', 'val-tta', 'checkpoint-every', 'resume', 'stop-after', 'workers', 'tune', 'config', 'set',
];
const FLAGS = ['resume', 'no-augment', 'tune'];

function int(a: ParsedArgs, name: string, min = 1): number | undefined {
  const v = optNumber(a, name);
  if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw new UsageError(`hnfnet train: --${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

function size3(a: ParsedArgs, name: string): [number, number, number] | undefined {
  const s = optString(a, name);
  if (s === undefined) return undefined;
  const v = s.split(/[,x×]/).map((p) => Number(p.trim()));
  const dims = v.length === 1 ? [v[0]!, v[0]!, v[0]!] : v;
  if (dims.length !== 3 || dims.some((d) => !(Number.isInteger(d) && d > 0))) throw new UsageError(`hnfnet train: --${name} expects N or X,Y,Z (positive integers), got "${s}"`);
  return dims as [number, number, number];
}

/** Sets a dotted path in a nested object. */
function put(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = target;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = value;
}

/** Leaves of a nested settings object as dotted paths (arrays and null are leaves). */
export function flatten(v: unknown, path = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
  else if (path) out[path] = v;
  return out;
}

/** The settings the flags give, as a nested override layer. */
export function flagLayer(a: ParsedArgs): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const data = optString(a, 'data');
  const phantoms = int(a, 'phantoms');
  if (data !== undefined && phantoms !== undefined) throw new UsageError('hnfnet train: give --data or --phantoms, not both');
  if (phantoms !== undefined) put(o, 'data.source', `phantom:${phantoms}`);
  if (data !== undefined) put(o, 'data.source', /^phantoms?:/.test(data) ? data : resolve(data));
  const set = (path: string, v: unknown) => {
    if (v !== undefined) put(o, path, v);
  };
  set('data.phantomSize', int(a, 'phantom-size', 16));
  if (optFlag(a, 'no-augment')) put(o, 'data.augment', null);
  set('model', optString(a, 'model'));
  const fold = optString(a, 'fold');
  if (fold !== undefined) {
    const k = Number(fold);
    if (fold === 'all' || fold === 'none') put(o, 'folds.fold', null);
    else if (Number.isInteger(k) && k >= 0) put(o, 'folds.fold', k);
    else throw new UsageError(`hnfnet train: --fold expects a fold number (0-based) or "all", got "${fold}"`);
  }
  set('folds.count', int(a, 'folds', 2));
  const split = optString(a, 'split');
  if (split !== undefined) put(o, 'folds.splitFile', resolve(split));
  set('epochs', int(a, 'epochs'));
  set('stepsPerEpoch', int(a, 'steps-per-epoch'));
  set('batch', int(a, 'batch'));
  set('accumulate', int(a, 'accumulate'));
  set('activationCheckpointing', optString(a, 'activation-checkpointing'));
  set('patch', size3(a, 'patch'));
  set('optimizer.lr', optNumber(a, 'lr'));
  set('schedule.warmupEpochs', optNumber(a, 'warmup'));
  set('optimizer.weightDecay', optNumber(a, 'weight-decay'));
  set('seed', int(a, 'seed', 0));
  const pretrained = optString(a, 'pretrained');
  if (pretrained !== undefined) put(o, 'pretrained', resolve(pretrained));
  set('validation.every', int(a, 'val-every'));
  set('validation.window', size3(a, 'val-window'));
  set('validation.overlap', optNumber(a, 'val-overlap'));
  set('validation.tta', optNumber(a, 'val-tta'));
  set('checkpoint.every', int(a, 'checkpoint-every'));
  return o;
}

export const command: Command = {
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const a = parseArgs(argv, FLAGS);
    checkKnown(a, KNOWN, 'train');
    if (a.positional.length) throw new UsageError(`hnfnet train: unexpected argument "${a.positional[0]}"\n\nusage: ${USAGE}`);
    const out = optString(a, 'out');
    if (!out) throw new UsageError(`hnfnet train: --out RUN is required\n\nusage: ${USAGE}`);
    const resume = optFlag(a, 'resume');
    const configPath = optString(a, 'config');
    let fileLayer: unknown;
    if (configPath !== undefined) {
      const text = await readFile(configPath, 'utf8').catch((e: unknown) => {
        throw new UsageError(`hnfnet train: --config ${configPath}: cannot read it (${describeFsError(e)})`);
      });
      try {
        fileLayer = JSON.parse(text);
      } catch (e) {
        throw new UsageError(`hnfnet train: --config ${configPath}: ${e instanceof Error ? e.message : String(e)}`);
      }
      resolveFilePaths(fileLayer, dirname(resolve(configPath)));
    }
    const flags = flagLayer(a);
    const sets = (a.options.get('set') ?? []).map((s) => overrideFromAssignment(s));
    const layers = [fileLayer, flags, ...sets];
    const config = resolveTrainConfig(...layers);
    if (!resume && !layers.some((l) => l !== undefined && 'data' in (l as object) && 'source' in ((l as { data: object }).data ?? {}))) {
      throw new UsageError(`hnfnet train: say what to train on: --data DIR, --data phantom:N or --phantoms N\n\nusage: ${USAGE}`);
    }
    const explicit = Object.assign({}, ...layers.map((l) => flatten(l))) as Record<string, unknown>;
    const workers = int(a, 'workers', 0);
    const stopAfter = int(a, 'stop-after');
    const r = await runTraining({
      out: resolve(out),
      config,
      explicit,
      resume,
      handleSignals: true,
      ...(workers !== undefined ? { workers } : { workers: Math.max(1, Math.min(4, (await import('node:os')).availableParallelism() - 1)) }),
      ...(stopAfter !== undefined ? { stopAfterSteps: stopAfter } : {}),
      tune: optFlag(a, 'tune'),
    });
    return r.reason === 'interrupted' ? 130 : 0;
  },
};

/**
 * Paths inside a config file name files beside it (a recipe shipped with its split file works
 * from any folder), as the twin's --config reads them; flags stay relative to the working folder.
 */
export function resolveFilePaths(layer: unknown, base: string): void {
  if (typeof layer !== 'object' || layer === null) return;
  const l = layer as { data?: { source?: unknown }; folds?: { splitFile?: unknown }; pretrained?: unknown };
  if (typeof l.folds?.splitFile === 'string') l.folds.splitFile = resolve(base, l.folds.splitFile);
  if (typeof l.pretrained === 'string') l.pretrained = resolve(base, l.pretrained);
  if (typeof l.data?.source === 'string' && !l.data.source.startsWith('phantom:')) l.data.source = resolve(base, l.data.source);
}
