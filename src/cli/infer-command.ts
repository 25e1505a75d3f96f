import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from './commands.js';
import { shippedWeightsPath } from './shipped-weights.js';
import type { Precision } from '../infer/precision.js';
import { checkKnown, optBetween, optInt, optNumber, optString, parseArgs, UsageError } from './args.js';
import { Progress } from './progress.js';
import { init } from '../index.js';
import { listCaseDirs, listCaseFiles, loadCase, loadCaseFiles } from '../data/index.node.js';
import { probeOutputDir, probeOutputFile } from '../data/atomic-write.node.js';
import { refuseInputOverwrite } from '../data/output-guard.node.js';
import { DEFAULT_CROP, type SegmentOptions, type Segmentation } from '../infer/inferencer.js';
import { loadModelFile, probabilityFiles, segmentCases, segmentCaseToFile, type LoadedModel } from '../infer/segment-files.node.js';
import type { Dims3 } from '../data/volume.js';
import type { Device } from '../tensor/device.js';
import { LimitError } from '../tensor/errors.js';
import { ensembleFittingWindow } from '../infer/window-fit.js';
import { parseRegionList } from '../infer/keep-largest.js';
import type { Region } from '../data/regions.js';

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
  --precision f32|f16  f16: parameters and activations stored as float16, arithmetic in f32
                       (about half the memory traffic; needs the adapter feature shader-f16;
                       docs/ARCHITECTURE.md gives the measured change). Default f32
  --blend gaussian|constant   weighting of overlapping windows (default gaussian, σ = window/8)
  --crop X,Y,Z|brain   centre crop before the windows (default ${DEFAULT_CROP.join(',')}; the brain's
                       bounding box when the brain does not fit, or always with "brain")
  --threshold X        region probability threshold (default 0.5)
  --min-et N           a predicted ET below N voxels becomes NCR (default 200)
  --keep-largest R,…   keep only the largest connected component (26-connected) of regions
                       WT, TC and/or ET; what a region loses joins the region around it
                       (outside WT: background, outside TC: ED, outside ET: NCR). Default:
                       what the weights recommend (the shipped ones: WT,TC, chosen on their
                       cross-validation); none: no post-processing
  --probs PREFIX       also write PREFIX_wt/_tc/_et.nii.gz probability maps (data sets:
                       PREFIX is a folder that gets <id>_wt/_tc/_et.nii.gz)
  --preset NAME        the model preset, for weights files without hnfnet metadata
  --tune               measure kernel variants on this adapter after the first window (within
                       the tuner's budget; see hnfnet tune) and run the rest with the fastest`;

function parseCrop(s: string | undefined): Dims3 | 'brain' {
  if (s === undefined) return DEFAULT_CROP;
  if (s === 'brain') return 'brain';
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isInteger(x) || x <= 0)) throw new UsageError(`--crop expects X,Y,Z (positive integers) or "brain", got "${s}"`);
  return v as Dims3;
}

/** A window too large for the device: the error names the way out, the largest window every model fits in. */
function windowAdvice(e: LimitError, loaded: readonly LoadedModel[], device: Device, window: number, batch: number): LimitError {
  const best = ensembleFittingWindow(loaded.map((l) => l.config), device.limits, window, batch);
  return new LimitError(
    `${e.message}. Windows of ${window}³${batch > 1 ? ` in batches of ${batch}` : ''} are too large for this device: ` +
      (best ? `rerun with --window ${best} (the largest that fits)` : 'no window size fits it; use a device with larger buffer limits'),
  );
}

/** What a case's line says about its segmentation. */
function summary(seg: Segmentation, device: Device): string {
  return `${seg.windows} network calls over box ${seg.box.size.join('×')}; peak GPU memory ${(device.memoryStats().peakBytes / 2 ** 20).toFixed(0)} MiB`;
}

/** The keep-largest regions every model recommends alike (an ensemble that disagrees gets none). */
function recommendedKeepLargest(loaded: readonly LoadedModel[]): Region[] {
  const first = loaded[0]?.keepLargest ?? null;
  if (!first) return [];
  return loaded.every((l) => l.keepLargest?.join() === first.join()) ? first : [];
}

export const command: Command = {
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, ['skip-existing', 'tune']);
    checkKnown(a, ['model', 'case', 'out', 'tta', 'overlap', 'window', 'batch', 'blend', 'crop', 'threshold', 'min-et', 'probs', 'preset', 'skip-existing', 'keep-largest', 'precision', 'tune'], 'infer');
    const cases = a.options.get('case') ?? [];
    const out = optString(a, 'out');
    if (!cases.length || !out) throw new UsageError(`usage: ${USAGE}`);
    // Not given: what the weights recommend (decided on their cross-validation); 'none': nothing.
    const keepLargestFlag = optString(a, 'keep-largest');
    const keepLargestGiven = (() => {
      if (keepLargestFlag === undefined) return null;
      if (keepLargestFlag.trim().toLowerCase() === 'none') return [];
      try {
        return parseRegionList(keepLargestFlag, '--keep-largest');
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    })();
    const given = a.options.get('model') ?? [];
    const models = given.length ? given : [shippedWeightsPath()];
    if (!given.length) console.error(`hnfnet infer: no --model given: using the shipped weights ${models[0]} (hnfnetv2-web, trained on 12 public BraTS 2018 cases; what they can do: models/README.md)`);
    const tta = optNumber(a, 'tta') ?? 8;
    if (tta !== 1 && tta !== 8) throw new UsageError('--tta must be 8 (identity and the 7 flips) or 1 (off)');
    const precisionFlag = optString(a, 'precision') ?? 'f32';
    if (precisionFlag !== 'f32' && precisionFlag !== 'f16') throw new UsageError('--precision must be f32 or f16');
    const precision: Precision = precisionFlag;
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
      tune: a.options.has('tune'),
    } satisfies Omit<SegmentOptions, 'device'>;
    const caseStat = cases.length === 1 ? await stat(cases[0]!).catch(() => null) : null;
    if (cases.length === 1 && !caseStat) throw new UsageError(`hnfnet infer: --case ${cases[0]}: no such file or folder`);
    const isDir = caseStat?.isDirectory() === true;
    // A folder whose own files are not named as a case's is a data set.
    const dataset = isDir && (await listCaseFiles(cases[0]!)).length === 0 ? await listCaseDirs(cases[0]!) : null;
    if (dataset && /\.nii(\.gz)?$/i.test(out)) throw new UsageError(`${cases[0]} is a data set of ${dataset.length} case folders: --out must be a folder for their segmentations, not ${out}`);
    if (!dataset && a.options.has('skip-existing')) throw new UsageError('--skip-existing is for data sets (a folder of case folders)');
    if (!dataset && !/\.nii(\.gz)?$/i.test(out)) throw new UsageError(`hnfnet infer: --out ${out}: the segmentation's name must end in .nii.gz or .nii`);

    // Outputs are checked before the long work: writable, and none of them one of the inputs
    // (for a data set, each case's are checked as it comes).
    if (dataset) {
      await probeOutputDir(out);
      if (probs !== undefined) await probeOutputDir(probs);
    } else {
      await probeOutputFile(out, '--out');
      if (probs !== undefined) await probeOutputDir(dirname(probs));
      const inputs = [...models, ...(isDir ? (await listCaseFiles(cases[0]!)).map((f) => f.path) : cases)];
      await refuseInputOverwrite([out, ...(probs === undefined ? [] : probabilityFiles(probs))], inputs, 'hnfnet infer');
    }

    const t0 = performance.now();
    const device = await init();
    if (precision === 'f16' && !device.hasHalf) throw new UsageError(`--precision f16 needs the WebGPU feature shader-f16, which this adapter (${device.adapterInfo}) does not have; use --precision f32`);
    const loaded = await Promise.all(models.map((path) => loadModelFile(path, { device, ...(preset ? { fallbackPreset: preset } : {}) })));
    const keepLargest = keepLargestGiven ?? recommendedKeepLargest(loaded);
    const pp = keepLargest.length ? `, keep-largest ${keepLargest.join(',')}${keepLargestGiven ? '' : ' (the weights\' recommendation; --keep-largest none to skip)'}` : '';
    const what = `${loaded.length} model${loaded.length > 1 ? 's' : ''} (${loaded.map((l) => l.preset ?? l.config.kind).join(', ')}), TTA ${tta}${pp}, ${precision}, on ${device.adapterInfo}`;
    // One progress line per case, made at its first network call.
    let bar: Progress | null = null;
    const endBar = () => {
      bar?.done();
      bar = null;
    };
    const opts = {
      device,
      ...settings,
      keepLargest,
      precision,
      onProgress: (done: number, total: number) => {
        bar ??= new Progress({ label: 'windows', total, unit: 'net calls' });
        bar.update(done);
      },
    };
    try {
      if (!dataset) {
        const c = isDir ? await loadCase(cases[0]!) : await loadCaseFiles(cases);
        console.error(`case ${c.id}: ${c.dims.join('×')} voxels, ${what}`);
        const seg = await segmentCaseToFile(c, loaded, out, { ...opts, ...(probs === undefined ? {} : { probabilitiesPrefix: probs }) });
        endBar();
        console.error(`wrote ${out} (${summary(seg, device)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        return 0;
      }
      console.error(`${dataset.length} cases in ${cases[0]}, ${what}`);
      const r = await segmentCases(dataset, out, loaded, {
        ...opts,
        skipExisting: a.options.has('skip-existing'),
        ...(probs === undefined ? {} : { probabilitiesDir: probs }),
        onCase: (e) => {
          const at = `case ${e.index + 1}/${e.total}`;
          if (e.kind === 'redo') console.error(`${at} ${e.id}: ${e.target} is there but not a complete segmentation (${e.why}); redoing it`);
          if (e.kind === 'written') {
            endBar();
            console.error(`${at} ${e.id}: wrote ${e.target} (${summary(e.segmentation, device)}) in ${e.seconds.toFixed(1)} s`);
          }
          if (e.kind === 'failed') {
            endBar();
            console.error(`${at} ${e.dir}: failed: ${e.error.message}`);
          }
        },
      });
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      console.error(`segmented ${r.written} of ${r.total} cases into ${out}${r.skipped ? ` (${r.skipped} already there, skipped)` : ''} in ${secs} s`);
      if (r.failed.length) {
        console.error(`${r.failed.length} case${r.failed.length > 1 ? 's' : ''} failed: ${r.failed.map((f) => f.dir).join(', ')}`);
        return 1;
      }
      return 0;
    } catch (e) {
      throw e instanceof LimitError ? windowAdvice(e, loaded, device, settings.window, settings.batchSize) : e;
    } finally {
      for (const l of loaded) l.model.dispose();
    }
  },
};
