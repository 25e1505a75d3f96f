/**
 * Makes the shipped weights file from a finished fold run of the twin (or of `hnfnet train`):
 *
 *   npx tsx scripts/ship-weights.ts runs/cv/fold1 1 models/hnfnetv2-web-brats18.safetensors [--postprocess decision.json]
 *
 * The run's `last.safetensors` (the final weights: what the cross-validation scored; not the
 * `best`, which was chosen on the held-out cases) with the run's final validation and its held-out
 * cases added to the metadata, so a reader can check the file against those cases
 * (test/hnfnet/shipped-weights.test.ts) and the model card can say what it has not seen.
 * `--postprocess` adds the keep-largest regions that scripts/decide-postprocessing.ts chose on
 * the cross-validation (`hnfnet_keep_largest`), which `hnfnet infer` applies by default.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../src/nn/safetensors.js';
import { writeOutputFile } from '../src/data/atomic-write.node.js';

const args = process.argv.slice(2);
const ppAt = args.indexOf('--postprocess');
const ppFile = ppAt >= 0 ? args.splice(ppAt, 2)[1] : undefined;
const [run, foldArg, out] = args;
const fold = Number(foldArg);
if (!run || !out || !Number.isInteger(fold)) {
  console.error('usage: tsx scripts/ship-weights.ts RUN FOLD OUT.safetensors [--postprocess decision.json]   (FOLD: the fold the run held out)');
  process.exit(2);
}
interface Entry {
  type: string;
  step?: number;
  dice?: Record<string, number>;
  mean?: number;
  cases?: number;
  epoch?: number;
  reason?: string;
}
/** The decision's regions, comma-separated ('' where none was adopted), checked. */
function keepLargestOf(file: string): string {
  const d = JSON.parse(readFileSync(file, 'utf8')) as { keepLargest?: unknown; cases?: unknown };
  if (!Array.isArray(d.keepLargest) || !d.keepLargest.every((r) => r === 'WT' || r === 'TC' || r === 'ET')) {
    throw new Error(`${file}: no keepLargest list of WT/TC/ET (made by scripts/decide-postprocessing.ts?)`);
  }
  return (d.keepLargest as string[]).join(',');
}
const log = readFileSync(path.join(run, 'log.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Entry);
const stop = log.filter((e) => e.type === 'stop').at(-1);
if (stop?.reason !== 'finished') throw new Error(`${run}: the run has not finished (last stop: ${stop?.reason ?? 'none'})`);
const w = decodeSafetensors(new Uint8Array(readFileSync(path.join(run, 'last.safetensors'))), `${run}/last.safetensors`);
const step = Number(w.metadata.hnfnet_step);
const val = log.filter((e) => e.type === 'val' && e.step === step).at(-1);
if (!val) throw new Error(`${run}: no validation at the last step (${step}) in log.jsonl`);
const split = JSON.parse(readFileSync(path.join(run, 'splits.json'), 'utf8')) as { training: { fold: number; id: string }[] };
const heldOut = split.training.filter((e) => e.fold === fold).map((e) => e.id);
if (heldOut.length !== val.cases) throw new Error(`${run}: fold ${fold} holds ${heldOut.length} cases in splits.json, the validation scored ${val.cases}`);
const metadata = {
  ...w.metadata,
  hnfnet_kind: 'last',
  hnfnet_val: JSON.stringify({ epoch: val.epoch, step: val.step, dice: val.dice, mean: val.mean, cases: val.cases }),
  hnfnet_fold: String(fold),
  hnfnet_val_cases: JSON.stringify(heldOut),
  hnfnet_recipe: 'configs/brats18-web.json',
  ...(ppFile ? { hnfnet_keep_largest: keepLargestOf(ppFile) } : {}),
};
await writeOutputFile(out, encodeSafetensors(w.tensors, metadata));
console.log(`${out}: step ${step}, fold ${fold}, held out ${heldOut.join(', ')}; validation Dice ${JSON.stringify(val.dice)}${ppFile ? `; keep-largest ${metadata.hnfnet_keep_largest || 'none'}` : ''}`);
