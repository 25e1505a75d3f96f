/**
 * The error of float16 inference against float32 on one real case: the shipped weights,
 * the same windows, once per precision; prints Dice per region against the case's labels for
 * both, their change, max |Δp| over the probabilities and the voxels whose label differs.
 *   npx tsx scripts/f16-error.ts /work/shared/data/brats/<case> [--tta N] [--overlap X]
 * Long on lavapipe: run it under nice, outside the test lock.
 */
import { loadCase } from '../src/data/case-files.node.js';
import { dice } from '../src/eval/dice.js';
import { regionMasks } from '../src/eval/masks.js';
import { loadModelFile } from '../src/infer/segment-files.node.js';
import { predictorAt, type Precision } from '../src/infer/precision.js';
import { segmentCase } from '../src/infer/inferencer.js';
import { init } from '../src/index.js';

const [dir, ...rest] = process.argv.slice(2);
if (!dir) throw new Error('usage: f16-error.ts CASE_DIR [--tta N] [--overlap X]');
const flag = (name: string, dflt: number) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : dflt;
};
const tta = flag('tta', 1);
const overlap = flag('overlap', 0.25);
const device = await init();
const c = await loadCase(dir);
if (!c.labels) throw new Error(`${dir}: no segmentation to score against`);
// Internal labels: ET is 3.
const gt = regionMasks(c.labels, 3);
const run = async (precision: Precision) => {
  const { model } = await loadModelFile('models/hnfnetv2-web-brats18.safetensors', { device });
  const t0 = performance.now();
  const seg = await segmentCase(c, [predictorAt(model, precision)], { device, tta, overlap, keepProbabilities: true });
  const secs = (performance.now() - t0) / 1000;
  model.dispose();
  const masks = regionMasks(seg.labels, 3);
  const scores = (['WT', 'TC', 'ET'] as const).map((r) => dice(masks[r], gt[r]));
  console.log(`${precision}: ${seg.windows} network calls in ${secs.toFixed(0)} s; Dice WT ${scores[0]!.toFixed(4)} TC ${scores[1]!.toFixed(4)} ET ${scores[2]!.toFixed(4)}`);
  return { seg, scores };
};
const a = await run('f32');
const b = await run('f16');
let maxDp = 0;
for (let i = 0; i < a.seg.probabilities!.length; i++) maxDp = Math.max(maxDp, Math.abs(a.seg.probabilities![i]! - b.seg.probabilities![i]!));
let changed = 0;
for (let i = 0; i < a.seg.labels.length; i++) if (a.seg.labels[i] !== b.seg.labels[i]) changed++;
console.log(`case ${c.id} (${c.dims.join('×')}), TTA ${tta}, overlap ${overlap}, ${device.adapterInfo}`);
console.log(`Dice change f16 − f32: WT ${(b.scores[0]! - a.scores[0]!).toExponential(2)} TC ${(b.scores[1]! - a.scores[1]!).toExponential(2)} ET ${(b.scores[2]! - a.scores[2]!).toExponential(2)}`);
console.log(`max |Δp| ${maxDp.toExponential(2)}; voxels with another label: ${changed} of ${a.seg.labels.length}`);
