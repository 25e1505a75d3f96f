/** `hnfnet tune --model <preset> --window S`: measures the kernel variants one training step of the model uses, and caches the winners. */
import { checkKnown, optBetween, optFlag, optInt, optString, parseArgs, UsageError } from './args.js';
import type { Command } from './commands.js';
import { backward, buildModel, full, init, isPresetName, mean, presetConfig, PRESET_NAMES, sizeMultiple, tidy, type TuneReport } from '../index.js';

const USAGE = `hnfnet tune --model <${PRESET_NAMES.join('|')}> --window N | D,H,W [--batch N] [--retune]
            [--budget SECONDS] [--key-budget SECONDS] [--reps N] [--json]

Runs one forward and backward pass of the model (fresh weights, constant input) at the window,
which lists every conv3d pass (forward, dgrad, wgrad) and batched matmul it uses by key (op,
pass, sizes rounded up to powers of two, kernel attributes, adapter), then times each key's
candidate variants on synthetic inputs of those shapes (GPU timestamps where the adapter has
them, else wall clock; median of --reps runs after one that compiles) and keeps the fastest in
the tuning cache, which every later run on this adapter reads (HNFNET_TUNE=on, the default;
HNFNET_TUNE=off runs the shipped defaults). Keys already cached are kept unless --retune.
Prints per key the chosen variant and each candidate's median time, and the total tuning time.

  --batch N            samples per step (default 1)
  --retune             measure keys that are cached too, and overwrite them
  --budget S           wall time for all keys (default 120 s); keys beyond it keep the default
  --key-budget S       wall time per key (default 10 s); the shipped default is always measured
  --reps N             timed runs per candidate (default 3)
  --json               print the report as JSON

Cache: ${'$'}HNFNET_TUNE_CACHE, else ${'$'}XDG_CACHE_HOME/hnfnet/tune.json, else ~/.cache/hnfnet/tune.json.`;

function parseWindow(s: string): [number, number, number] {
  const parts = s.split(/[,x×]/).map((p) => Number(p.trim()));
  const dims = parts.length === 1 ? [parts[0]!, parts[0]!, parts[0]!] : parts;
  if (dims.length !== 3 || dims.some((d) => !(Number.isInteger(d) && d > 0))) throw new UsageError(`hnfnet tune: --window expects N or D,H,W (positive integers), got "${s}"`);
  return dims as [number, number, number];
}

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** One line per key: what runs now, against the shipped default where both were timed. */
export function formatTuneReport(r: TuneReport): string {
  const lines = [`adapter: ${r.adapter}`, `cache:   ${r.where} (mode ${r.mode})`, ''];
  const head = ['key', 'shape class', 'attributes', 'chosen', 'vs default', 'candidates (median ms)'];
  const rows = r.rows.map((row) => {
    // The shipped default is always timed first (tuner.ts).
    const d = row.ms[row.fallback];
    const c = row.ms[row.variant];
    const gain = d !== undefined && c !== undefined && c > 0 ? `${(d / c).toFixed(2)}×` : '-';
    const cands = Object.entries(row.ms)
      .sort((a, b) => a[1] - b[1])
      .map(([n, v]) => `${n} ${ms(v)}`);
    if (row.status === 'queued') cands.push('not measured (total budget spent)');
    else for (const n of row.skipped) cands.push(`${n} (key budget)`);
    for (const n of Object.keys(row.failed)) cands.push(`${n} (failed)`);
    return [`${row.op}.${row.family}`, row.shape.join('×'), row.attrs || '-', `${row.variant}${row.status === 'tuned' ? '' : ` (${row.status})`}`, gain, cands.join(', ')];
  });
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i]!.length)));
  const line = (x: string[]) => x.map((cell, i) => (i === x.length - 1 ? cell : cell.padEnd(w[i]!))).join('  ');
  lines.push(line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line), '');
  const tuned = r.rows.filter((x) => x.status === 'tuned').length;
  const queued = r.rows.filter((x) => x.status === 'queued').length;
  lines.push(`${tuned} key(s) tuned, ${r.rows.length - tuned - queued} from the cache${queued ? `, ${queued} left at the default (budget spent)` : ''}; tuning took ${(r.totalMs / 1000).toFixed(1)} s (budget ${(r.budget.totalMs / 1000).toFixed(0)} s, ${(r.budget.perKeyMs / 1000).toFixed(0)} s per key, ${r.budget.reps} runs per candidate)`);
  for (const row of r.rows) for (const [n, why] of Object.entries(row.failed)) lines.push(`failed: ${row.op}.${row.family} ${row.shape.join('×')} ${n}: ${why}`);
  return lines.join('\n');
}

export const command: Command = {
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const args = parseArgs(argv, ['retune', 'json']);
    checkKnown(args, ['model', 'window', 'batch', 'retune', 'budget', 'key-budget', 'reps', 'json'], 'tune');
    if (args.positional.length) throw new UsageError(`hnfnet tune: unexpected argument "${args.positional[0]}"\n\nusage: ${USAGE}`);
    const name = optString(args, 'model');
    if (!name) throw new UsageError(`hnfnet tune: --model is required (one of ${PRESET_NAMES.join(', ')})`);
    if (!isPresetName(name)) throw new UsageError(`hnfnet tune: unknown model "${name}" (one of ${PRESET_NAMES.join(', ')})`);
    const ws = optString(args, 'window');
    if (!ws) throw new UsageError('hnfnet tune: --window is required (N or D,H,W)');
    const window = parseWindow(ws);
    const cfg = presetConfig(name);
    const mult = sizeMultiple(cfg);
    if (window.some((d) => d % mult !== 0)) throw new UsageError(`hnfnet tune: --window ${window.join(',')}: every side of a ${name} window must be a multiple of ${mult}`);
    const batch = optInt(args, 'batch', 1) ?? 1;
    const seconds = (flag: string, dflt: number) => 1000 * (optBetween(args, flag, 0, Infinity) ?? dflt);
    const device = await init();
    const tuner = device.configureTuning({
      mode: optFlag(args, 'retune') ? 'retune' : 'on',
      totalMs: seconds('budget', 120),
      perKeyMs: seconds('key-budget', 10),
      reps: optInt(args, 'reps', 1, 100) ?? 3,
    });
    const model = buildModel(name, { device });
    // One step's shapes: every conv3d, bmm and instance norm asks the tuner, which queues what it has not measured.
    tidy(() => {
      const x = full([batch, cfg.inChannels, ...window], 0.5, { device });
      backward(mean(model.forward(x)));
    });
    await device.sync();
    model.dispose();
    const report = await tuner.tunePending();
    if (optFlag(args, 'json')) console.log(JSON.stringify(report, null, 1));
    else {
      console.log(`hnfnet tune: ${name} at ${window.join('×')} (batch ${batch})`);
      console.log(formatTuneReport(report));
    }
    return 0;
  },
};
