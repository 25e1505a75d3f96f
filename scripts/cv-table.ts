/**
 * The cross-validation table of models/README.md from `hnfnet eval --format json` files, one
 * per fold (each scoring that fold's held-out cases):
 *
 *   npx tsx scripts/cv-table.ts runs/cv/eval-fold0.json runs/cv/eval-fold1.json …
 *
 * Prints a Markdown table: each fold's mean Dice and HD95 (mm) for ET, TC and WT, then the
 * mean ± sample standard deviation over the folds and over all held-out cases.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const REGIONS = ['ET', 'TC', 'WT'] as const;
type Metrics = Record<(typeof REGIONS)[number], { dice: number; hd95: number }>;
interface EvalJson {
  cases: Record<string, Metrics>;
  n: number;
  mean: Metrics;
}

function meanSd(v: readonly number[]): [number, number] {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0;
  return [m, sd];
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: tsx scripts/cv-table.ts EVAL_FOLD0.json [EVAL_FOLD1.json …]');
  process.exit(2);
}
const folds = files.map((f) => {
  try {
    return { file: f, json: JSON.parse(readFileSync(f, 'utf8')) as EvalJson };
  } catch (e) {
    console.error(`${f}: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
});

const cols = [...REGIONS.map((r) => `Dice ${r}`), ...REGIONS.map((r) => `HD95 ${r} (mm)`)];
const row = (m: Metrics) => [...REGIONS.map((r) => m[r].dice), ...REGIONS.map((r) => m[r].hd95)];
const fmt = (v: number, i: number) => (i < 3 ? v.toFixed(3) : v.toFixed(1));
const lines = [`| | cases | ${cols.join(' | ')} |`, `|---|---|${cols.map(() => '---').join('|')}|`];
for (const { file, json } of folds) {
  // runs/cv/eval-fold3.json or runs/brats18-web/fold3/eval.json: the fold number in the name or its folder
  const name = /fold(\d+)/.exec(path.basename(file))?.[1] ?? /fold(\d+)/.exec(path.basename(path.dirname(file)))?.[1];
  lines.push(`| fold ${name ?? file} | ${json.n} | ${row(json.mean).map(fmt).join(' | ')} |`);
}
const perFold = folds.map(({ json }) => row(json.mean));
const perCase = folds.flatMap(({ json }) => Object.values(json.cases).map(row));
const summary = (rows: number[][]) =>
  cols.map((_, i) => {
    const [m, sd] = meanSd(rows.map((r) => r[i]!));
    return `${fmt(m, i)} ± ${fmt(sd, i)}`;
  });
lines.push(`| **mean ± sd over folds** | ${folds.length} folds | ${summary(perFold).join(' | ')} |`);
lines.push(`| mean ± sd over cases | ${perCase.length} | ${summary(perCase).join(' | ')} |`);
console.log(lines.join('\n'));
