import { readFile, stat } from 'node:fs/promises';
import type { Command } from './commands.js';
import { checkKnown, optNumber, optString, parseArgs, UsageError } from './args.js';
import { Progress } from './progress.js';
import { init } from '../index.js';
import { loadCase, loadCaseFiles, writeNiftiFile, writeSegmentation } from '../data/index.node.js';
import { loadModelFromWeights } from '../hnfnet/weights.js';
import { segmentCase, DEFAULT_CROP } from '../hnfnet/inferencer.js';
import type { Predictor } from '../hnfnet/sliding-window.js';
import type { Dims3 } from '../data/volume.js';
import type { Tensor } from '../tensor/tensor.js';

const USAGE = `hnfnet infer --model W.safetensors [--model W2.safetensors …] --case DIR --out seg.nii.gz [options]
       hnfnet infer --model W.safetensors --case T1 --case T1CE --case T2 --case FLAIR --out seg.nii.gz

Segments one BraTS case with the paper's inference recipe and writes the labels (4 or 3 for
ET, as the case's naming) on the case's grid and affine. The model is rebuilt from the
weights file's metadata; several --model files are an ensemble (probabilities averaged).

  --case DIR | FILE…   a case folder, or its four modality files (2018-2021 or 2023 names)
  --out FILE           the segmentation (.nii.gz or .nii)
  --tta 8|1            identity and the 7 flip combinations, averaged (default 8), or none
  --window N           sliding-window side (default 128)
  --overlap X          fraction shared by neighbouring windows (default 0.5)
  --batch N            windows per network call (default 1)
  --blend gaussian|constant   weighting of overlapping windows (default gaussian, σ = window/8)
  --crop X,Y,Z|brain   centre crop before the windows (default ${DEFAULT_CROP.join(',')}; the brain's
                       bounding box when the brain does not fit, or always with "brain")
  --threshold X        region probability threshold (default 0.5)
  --min-et N           a predicted ET below N voxels becomes NCR (default 200)
  --probs PREFIX       also write PREFIX_wt/_tc/_et.nii.gz probability maps
  --preset NAME        the model preset, for weights files without hnfnet metadata`;

function parseCrop(s: string | undefined): Dims3 | 'brain' {
  if (s === undefined) return DEFAULT_CROP;
  if (s === 'brain') return 'brain';
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isInteger(x) || x <= 0)) throw new UsageError(`--crop expects X,Y,Z (positive integers) or "brain", got "${s}"`);
  return v as Dims3;
}

export const command: Command = {
  summary: 'segment a BraTS case: sliding windows, test-time augmentation, post-processing',
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv);
    checkKnown(a, ['model', 'case', 'out', 'tta', 'overlap', 'window', 'batch', 'blend', 'crop', 'threshold', 'min-et', 'probs', 'preset'], 'infer');
    const models = a.options.get('model') ?? [];
    const cases = a.options.get('case') ?? [];
    const out = optString(a, 'out');
    if (!models.length || !cases.length || !out) throw new UsageError(`usage: ${USAGE}`);
    const tta = optNumber(a, 'tta') ?? 8;
    if (tta !== 1 && tta !== 8) throw new UsageError('--tta must be 8 (identity and the 7 flips) or 1 (off)');
    const blend = optString(a, 'blend') ?? 'gaussian';
    if (blend !== 'gaussian' && blend !== 'constant') throw new UsageError('--blend must be gaussian or constant');

    const t0 = performance.now();
    const device = await init();
    const loaded = await Promise.all(
      models.map(async (path) => loadModelFromWeights(new Uint8Array(await readFile(path)), path, { device, ...(optString(a, 'preset') ? { fallbackPreset: optString(a, 'preset')! } : {}) })),
    );
    const predictors: Predictor[] = loaded.map(({ model }) => (x: Tensor) => model.call(x));
    const isDir = cases.length === 1 && (await stat(cases[0]!)).isDirectory();
    const c = isDir ? await loadCase(cases[0]!) : await loadCaseFiles(cases);
    console.error(`case ${c.id}: ${c.dims.join('×')} voxels, ${loaded.length} model${loaded.length > 1 ? 's' : ''} (${loaded.map((l) => l.preset ?? l.config.kind).join(', ')}), TTA ${tta}, on ${device.adapterInfo}`);
    let bar: Progress | null = null;
    const seg = await segmentCase(c, predictors, {
      device,
      tta,
      overlap: optNumber(a, 'overlap') ?? 0.5,
      window: optNumber(a, 'window') ?? 128,
      batchSize: optNumber(a, 'batch') ?? 1,
      blend,
      crop: parseCrop(optString(a, 'crop')),
      threshold: optNumber(a, 'threshold') ?? 0.5,
      minEtVoxels: optNumber(a, 'min-et') ?? 200,
      keepProbabilities: a.options.has('probs'),
      onProgress: (done, total) => {
        bar ??= new Progress({ label: 'windows', total, unit: 'net calls' });
        bar.update(done);
      },
    });
    (bar as Progress | null)?.done();
    await writeSegmentation(out, seg.labels, { grid: c.grid, naming: c.naming });
    const probs = optString(a, 'probs');
    if (probs && seg.probabilities) {
      const n = c.dims[0] * c.dims[1] * c.dims[2];
      for (const [i, region] of ['wt', 'tc', 'et'].entries()) {
        await writeNiftiFile(`${probs}_${region}.nii.gz`, seg.probabilities.subarray(i * n, (i + 1) * n), c.grid, { datatype: 'float32' });
      }
    }
    for (const l of loaded) l.model.dispose();
    const secs = (performance.now() - t0) / 1000;
    console.error(`wrote ${out} (${seg.windows} network calls over box ${seg.box.size.join('×')}) in ${secs.toFixed(1)} s`);
    return 0;
  },
};
