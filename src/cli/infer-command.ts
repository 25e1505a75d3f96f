import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from './commands.js';
import { shippedWeightsPath } from './shipped-weights.js';
import { checkKnown, optBetween, optInt, optNumber, optString, parseArgs, UsageError } from './args.js';
import { isCompleteOutput, refuseInputOverwrite } from './output-guard.js';
import { Progress } from './progress.js';
import { init } from '../index.js';
import { listCaseDirs, listFolder, loadCase, loadCaseFiles, writeNiftiFile, writeSegmentation } from '../data/index.node.js';
import { describeFsError, probeOutputDir, probeOutputFile } from '../data/atomic-write.node.js';
import { DataError } from '../data/errors.js';
import { parseCaseFileName, type BratsCase } from '../data/brats-case.js';
import { loadModelFromWeights } from '../hnfnet/weights.js';
import { segmentCase, DEFAULT_CROP, type SegmentOptions } from '../infer/inferencer.js';
import type { Predictor } from '../infer/sliding-window.js';
import type { Dims3 } from '../data/volume.js';
import type { Tensor } from '../tensor/tensor.js';
import { DeviceLostError, LimitError } from '../tensor/errors.js';
import { fittingWindow, windowOptions } from '../infer/window-fit.js';
import { filterComponents, parseRegionList } from '../infer/keep-largest.js';

const USAGE = `hnfnet infer [--model W.safetensors [--model W2.safetensors …]] --case DIR --out seg.nii.gz [options]
       hnfnet infer --model W.safetensors --case T1 --case T1CE --case T2 --case FLAIR --out seg.nii.gz
       hnfnet infer --model W.safetensors --case DATASET --out PREDICTIONS/ [options]

Segments BraTS cases with the paper's inference recipe and writes the labels (4 or 3 for ET,
as the case's naming) on the case's grid and affine. The model is rebuilt from the weights
file's metadata; several --model files are an ensemble (probabilities averaged). Without
--model, the weights shipped in models/ (see models/README.md).

  --case DIR | FILE…   a case folder, or its four modality files (2018-2021 or 2023 names), or
                       a data set: a folder of case folders, each segmented in turn
  --out FILE | DIR     the segmentation (.nii.gz or .nii); for a data set a folder, which
                       gets <id>.nii.gz per case (what hnfnet eval --pred matches by id)
  --skip-existing      data sets: leave out cases whose <id>.nii.gz is already there
  --tta 8|1            identity and the 7 flip combinations, averaged (default 8), or none
  --window N           sliding-window side (default 128)
  --overlap X          fraction shared by neighbouring windows (default 0.5)
  --batch N            windows per network call (default 1)
  --blend gaussian|constant   weighting of overlapping windows (default gaussian, σ = window/8)
  --crop X,Y,Z|brain   centre crop before the windows (default ${DEFAULT_CROP.join(',')}; the brain's
                       bounding box when the brain does not fit, or always with "brain")
  --threshold X        region probability threshold (default 0.5)
  --min-et N           a predicted ET below N voxels becomes NCR (default 200)
  --keep-largest R,…   keep only the largest connected component (26-connected) of regions
                       WT, TC and/or ET; what a region loses joins the region around it
                       (outside WT: background, outside TC: ED, outside ET: NCR)
  --probs PREFIX       also write PREFIX_wt/_tc/_et.nii.gz probability maps (data sets:
                       PREFIX is a folder that gets <id>_wt/_tc/_et.nii.gz)
  --preset NAME        the model preset, for weights files without hnfnet metadata`;

function parseCrop(s: string | undefined): Dims3 | 'brain' {
  if (s === undefined) return DEFAULT_CROP;
  if (s === 'brain') return 'brain';
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isInteger(x) || x <= 0)) throw new UsageError(`--crop expects X,Y,Z (positive integers) or "brain", got "${s}"`);
  return v as Dims3;
}

/** The files of a folder that are named as a case's (its images and segmentation); links followed. */
async function caseFilesIn(dir: string): Promise<{ path: string; id: string; kind: string }[]> {
  const entries = await listFolder(dir);
  return entries.flatMap((e) => {
    const p = e.isFile ? parseCaseFileName(e.name) : null;
    return p ? [{ path: join(dir, e.name), id: p.id, kind: p.kind }] : [];
  });
}

/** The case id its files' names give a folder, or null when its own files are not a case (a data set). */
async function caseIdOf(dir: string): Promise<string | null> {
  return (await caseFilesIn(dir))[0]?.id ?? null;
}

const PROB_REGIONS = ['wt', 'tc', 'et'] as const;

async function readWeights(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new DataError(path, `cannot read the weights file (${describeFsError(e)})`);
  }
}

async function writeProbabilities(prefix: string, probs: Float32Array, c: BratsCase): Promise<void> {
  const n = c.dims[0] * c.dims[1] * c.dims[2];
  for (const [i, region] of PROB_REGIONS.entries()) {
    await writeNiftiFile(`${prefix}_${region}.nii.gz`, probs.subarray(i * n, (i + 1) * n), c.grid, { datatype: 'float32' });
  }
}

export const command: Command = {
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, ['skip-existing']);
    checkKnown(a, ['model', 'case', 'out', 'tta', 'overlap', 'window', 'batch', 'blend', 'crop', 'threshold', 'min-et', 'probs', 'preset', 'skip-existing', 'keep-largest'], 'infer');
    const cases = a.options.get('case') ?? [];
    const out = optString(a, 'out');
    if (!cases.length || !out) throw new UsageError(`usage: ${USAGE}`);
    const keepLargest = (() => {
      try {
        return parseRegionList(optString(a, 'keep-largest') ?? '', '--keep-largest');
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    })();
    const given = a.options.get('model') ?? [];
    const models = given.length ? given : [shippedWeightsPath()];
    if (!given.length) console.error(`hnfnet infer: no --model given: using the shipped weights ${models[0]} (hnfnetv2-web, trained on 12 public BraTS 2018 cases; what they can do: models/README.md)`);
    const tta = optNumber(a, 'tta') ?? 8;
    if (tta !== 1 && tta !== 8) throw new UsageError('--tta must be 8 (identity and the 7 flips) or 1 (off)');
    const blend = optString(a, 'blend') ?? 'gaussian';
    if (blend !== 'gaussian' && blend !== 'constant') throw new UsageError('--blend must be gaussian or constant');
    // Every value is checked here, before a device or a weights file is touched.
    const probs = optString(a, 'probs');
    const preset = optString(a, 'preset');
    const settings = {
      tta,
      overlap: optBetween(a, 'overlap', 0, 1, true) ?? 0.5,
      window: optInt(a, 'window', 8, 512) ?? 128,
      batchSize: optInt(a, 'batch', 1, 64) ?? 1,
      blend,
      crop: parseCrop(optString(a, 'crop')),
      threshold: optBetween(a, 'threshold', 0, 1) ?? 0.5,
      minEtVoxels: optInt(a, 'min-et', 0) ?? 200,
      keepProbabilities: probs !== undefined,
    } satisfies Omit<SegmentOptions, 'device'>;
    const caseStat = cases.length === 1 ? await stat(cases[0]!).catch(() => null) : null;
    if (cases.length === 1 && !caseStat) throw new UsageError(`hnfnet infer: --case ${cases[0]}: no such file or folder`);
    const isDir = caseStat?.isDirectory() === true;
    const dataset = isDir && (await caseIdOf(cases[0]!)) === null ? await listCaseDirs(cases[0]!) : null;
    if (dataset && /\.nii(\.gz)?$/i.test(out)) throw new UsageError(`${cases[0]} is a data set of ${dataset.length} case folders: --out must be a folder for their segmentations, not ${out}`);
    if (!dataset && a.options.has('skip-existing')) throw new UsageError('--skip-existing is for data sets (a folder of case folders)');
    if (!dataset && !/\.nii(\.gz)?$/i.test(out)) throw new UsageError(`hnfnet infer: --out ${out}: the segmentation's name must end in .nii.gz or .nii`);

    // Outputs are checked before the long work: writable, and none of them one of the inputs.
    const probFiles = (prefix: string) => PROB_REGIONS.map((r) => `${prefix}_${r}.nii.gz`);
    const inputsOf = async (dir: string | null) => [...models, ...(dir ? (await caseFilesIn(dir)).map((f) => f.path) : cases)];
    if (dataset) {
      await probeOutputDir(out);
      if (probs !== undefined) await probeOutputDir(probs);
    } else {
      await probeOutputFile(out, '--out');
      if (probs !== undefined) await probeOutputDir(dirname(probs));
      await refuseInputOverwrite([out, ...(probs === undefined ? [] : probFiles(probs))], await inputsOf(isDir ? cases[0]! : null), 'infer');
    }

    const t0 = performance.now();
    const device = await init();
    const loaded = await Promise.all(models.map(async (path) => loadModelFromWeights(await readWeights(path), path, { device, ...(preset ? { fallbackPreset: preset } : {}) })));
    const predictors: Predictor[] = loaded.map(({ model }) => (x: Tensor) => model.call(x));
    const opts: SegmentOptions = { device, ...settings };
    const what = `${loaded.length} model${loaded.length > 1 ? 's' : ''} (${loaded.map((l) => l.preset ?? l.config.kind).join(', ')}), TTA ${tta}, on ${device.adapterInfo}`;
    const window = opts.window as number;
    const segment = async (c: BratsCase, target: string, probsPrefix: string | undefined): Promise<string> => {
      let bar: Progress | null = null;
      const seg = await segmentCase(c, predictors, {
        ...opts,
        onProgress: (done, total) => {
          bar ??= new Progress({ label: 'windows', total, unit: 'net calls' });
          bar.update(done);
        },
      }).catch((e: unknown) => {
        if (!(e instanceof LimitError)) throw e;
        // Name the way out: the largest window every model fits in on this device.
        const fits = loaded.map((l) => fittingWindow(windowOptions(l.config, device.limits, opts.batchSize), window));
        const best = fits.includes(null) ? null : Math.min(...(fits as number[]));
        throw new LimitError(
          `${e.message}. Windows of ${window}³${opts.batchSize! > 1 ? ` in batches of ${opts.batchSize}` : ''} are too large for this device: ` +
            (best ? `rerun with --window ${best} (the largest that fits)` : 'no window size fits it; use a device with larger buffer limits'),
        );
      });
      (bar as Progress | null)?.done();
      const labels = keepLargest.length > 0 ? filterComponents(seg.labels, c.dims, { keepLargest }).labels : seg.labels;
      await writeSegmentation(target, labels, { grid: c.grid, naming: c.naming });
      if (probsPrefix && seg.probabilities) await writeProbabilities(probsPrefix, seg.probabilities, c);
      return `${seg.windows} network calls over box ${seg.box.size.join('×')}; peak GPU memory ${(device.memoryStats().peakBytes / 2 ** 20).toFixed(0)} MiB`;
    };
    try {
      if (!dataset) {
        const c = isDir ? await loadCase(cases[0]!) : await loadCaseFiles(cases);
        console.error(`case ${c.id}: ${c.dims.join('×')} voxels, ${what}`);
        const done = await segment(c, out, probs);
        console.error(`wrote ${out} (${done}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        return 0;
      }
      // A data set: one bad case is reported and skipped, so a long run loses nothing else.
      console.error(`${dataset.length} cases in ${cases[0]}, ${what}`);
      const failed: string[] = [];
      let written = 0;
      let skipped = 0;
      for (const [k, dir] of dataset.entries()) {
        const t1 = performance.now();
        try {
          // Named from the file names, so that skipping a case does not read its images.
          const files = await caseFilesIn(dir);
          const id = files[0]!.id;
          const target = join(out, `${id}.nii.gz`);
          if (a.options.has('skip-existing')) {
            const image = files.find((f) => f.kind !== 'seg');
            const have = image ? await isCompleteOutput(target, image.path) : { ok: false, why: '' };
            if (have.ok) {
              skipped++;
              continue;
            }
            if (have.why !== 'missing') console.error(`case ${k + 1}/${dataset.length} ${id}: ${target} is there but not a complete segmentation (${have.why}); redoing it`);
          }
          await refuseInputOverwrite([target, ...(probs === undefined ? [] : probFiles(join(probs, id)))], await inputsOf(dir), 'infer');
          const c = await loadCase(dir);
          const done = await segment(c, target, probs === undefined ? undefined : join(probs, c.id));
          written++;
          console.error(`case ${k + 1}/${dataset.length} ${c.id}: wrote ${target} (${done}) in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
        } catch (e) {
          // A lost device or a window too large for it would fail every later case too.
          if (!(e instanceof Error) || e instanceof DeviceLostError || e instanceof LimitError) throw e;
          failed.push(dir);
          console.error(`case ${k + 1}/${dataset.length} ${dir}: failed: ${e.message}`);
        }
      }
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      console.error(`segmented ${written} of ${dataset.length} cases into ${out}${skipped ? ` (${skipped} already there, skipped)` : ''} in ${secs} s`);
      if (failed.length) {
        console.error(`${failed.length} case${failed.length > 1 ? 's' : ''} failed: ${failed.join(', ')}`);
        return 1;
      }
      return 0;
    } finally {
      for (const l of loaded) l.model.dispose();
    }
  },
};
