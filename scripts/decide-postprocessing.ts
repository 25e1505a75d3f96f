/**
 * nnU-Net's post-processing decision on the cross-validation's predictions: per region (WT,
 * then TC, then ET), keep only the largest connected component where that raises the region's
 * mean Dice over all held-out cases of all folds (`decideKeepLargest`).
 *
 *   npx tsx scripts/decide-postprocessing.ts [--out decision.json] [--apply DIR] PRED_DIR:GT_DIR …
 *
 * PRED_DIR holds one fold's `hnfnet infer` outputs (<id>.nii.gz), GT_DIR that fold's held-out
 * case folders (or any folder under which `hnfnet eval` finds the labels). The decision is
 * printed and, with --out, written as JSON; `scripts/ship-weights.ts --postprocess FILE` puts it
 * into the shipped weights, whose `hnfnet infer` then applies it unless told otherwise.
 * --apply DIR writes each fold's predictions with the decision applied to DIR/<n>/ (n: the
 * pair's place on the command line), for `hnfnet eval` to score the post-processed CV.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readNiftiFile } from '../src/data/nifti-file.node.js';
import { writeFileAtomic } from '../src/data/atomic-write.node.js';
import { findSegmentations } from '../src/eval/case-files.node.js';
import { matchCases } from '../src/eval/cases.js';
import { decideKeepLargest, type PostprocessCase } from '../src/infer/keep-largest-decision.js';
import { LABELS } from '../src/data/brats-case.js';
import { writeSegmentation } from '../src/data/case-files.node.js';
import { filterComponents } from '../src/infer/keep-largest.js';

/** File labels of either naming (ET 4 for 2018–2021, 3 for 2023) → internal labels. */
function internalLabels(data: Float32Array, file: string): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v === 0 || v === 1 || v === 2) out[i] = v;
    else if (v === 3 || v === 4) out[i] = LABELS.ET;
    else throw new Error(`${file}: voxel ${i} holds label ${v}, not a BraTS label (0, 1, 2, 3 or 4)`);
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  let out: string | undefined;
  let apply: string | undefined;
  const pairs: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else if (argv[i] === '--apply') apply = argv[++i];
    else {
      const [pred, gt] = argv[i]!.split(':');
      if (!pred || !gt) throw new Error(`expected PRED_DIR:GT_DIR, got ${argv[i]}`);
      pairs.push([pred, gt]);
    }
  }
  if (!pairs.length) throw new Error('usage: tsx scripts/decide-postprocessing.ts [--out decision.json] PRED_DIR:GT_DIR …');
  const cases: PostprocessCase[] = [];
  const ids: string[] = [];
  const written: { fold: number; id: string; grid: Awaited<ReturnType<typeof readNiftiFile>>['grid']; et: number }[] = [];
  for (const [fold, [predDir, gtDir]] of pairs.entries()) {
    const m = matchCases(await findSegmentations(predDir), await findSegmentations(gtDir));
    if (m.predOnly.length || m.duplicates.length) throw new Error(`${predDir}: predictions without a ground truth in ${gtDir}: ${[...m.predOnly, ...m.duplicates.map((d) => d.id)].join(', ')}`);
    for (const p of m.pairs) {
      const [pv, gv] = [await readNiftiFile(p.pred), await readNiftiFile(p.gt)];
      if (pv.dims.join() !== gv.dims.join()) throw new Error(`${p.id}: prediction ${pv.dims.join('×')} against ground truth ${gv.dims.join('×')}`);
      cases.push({ pred: internalLabels(pv.data, p.pred), gt: internalLabels(gv.data, p.gt), dims: pv.dims });
      ids.push(p.id);
      written.push({ fold, id: p.id, grid: pv.grid, et: pv.data.includes(4) || gv.data.includes(4) ? 4 : 3 });
    }
  }
  const decision = decideKeepLargest(cases);
  for (const t of decision.trials) {
    console.log(`${t.region}: mean Dice ${t.diceWithout.toFixed(4)} as predicted, ${t.diceWith.toFixed(4)} keeping the largest component → ${t.adopted ? 'adopted' : 'not adopted'}`);
  }
  console.log(`keep-largest: ${decision.keepLargest.join(',') || 'none'} (decided on ${cases.length} held-out cases)`);
  if (apply) {
    for (const [k, c] of cases.entries()) {
      const w = written[k]!;
      const labels = decision.keepLargest.length ? filterComponents(c.pred, c.dims, { keepLargest: decision.keepLargest }).labels : c.pred;
      await mkdir(path.join(apply, String(w.fold)), { recursive: true });
      await writeSegmentation(path.join(apply, String(w.fold), `${w.id}.nii.gz`), labels, { grid: w.grid, naming: w.et === 4 ? '2021' : '2023' });
    }
    console.log(`wrote the post-processed predictions under ${apply}/<fold>/`);
  }
  if (out) {
    const json = { keepLargest: decision.keepLargest, trials: decision.trials, cases: ids, folds: pairs.map(([p, g]) => ({ pred: path.resolve(p), gt: path.resolve(g) })) };
    await writeFileAtomic(out, `${JSON.stringify(json, null, 2)}\n`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
