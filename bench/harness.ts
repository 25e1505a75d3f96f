/**
 * The bench's harness, shared by `npm run bench` (bench/run.ts, which finds the cases in
 * bench/cases/) and the portable GPU bundle (bench/bundle-entry.ts, which lists them): times each
 * case, prints one table (median ms, GFLOP/s or GB/s, time relative to hnfnet's for the same
 * workload) and a side-by-side table of the workloads that have peers, and writes both, with the
 * rows as JSON, to the results folder.
 *
 * Options: --quick (smaller sizes, fewer runs), --filter TEXT (cases whose "name impl" contains
 * it), --reps N, --out DIR (results folder), --torch-device cpu|cuda|none (the PyTorch peers).
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../src/data/atomic-write.node.js';
import { join } from 'node:path';
import { init } from '../src/index.js';
import type { BenchCase, BenchContext } from './types.js';
import { median } from './stats.js';
import { sideBySide, table, timeRatio, type Row } from './table.js';

export function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function timeCase(c: BenchCase, ctx: BenchContext, reps: number): Promise<Row> {
  const r = await c.setup(ctx);
  const dev = ctx.device;
  const times: number[] = [];
  const walls: number[] = [];
  let clock = 'wall';
  const warmup = c.runs?.warmup ?? 2;
  reps = c.runs?.reps ?? reps;
  let peak: { peakBytes: number; peakHeldBytes: number } | null = null;
  try {
    if (r.measure) {
      // The case times itself (a peer with its own device clock, CUDA events say).
      const m = await r.measure(reps);
      times.push(...m.times);
      walls.push(...m.times);
      clock = m.clock;
    } else {
      for (let i = 0; i < warmup; i++) {
        await r.run();
        if (c.timing === 'gpu') await dev.sync();
      }
      if (c.timing === 'gpu') {
        await dev.sync();
        dev.resetPeakMemory();
      }
      for (let i = 0; i < reps; i++) {
        if (c.timing === 'gpu') {
          await dev.sync();
          const timed = dev.startTiming();
          const t0 = performance.now();
          await r.run();
          await dev.sync();
          const wall = performance.now() - t0;
          walls.push(wall);
          const ns = timed ? await dev.stopTiming() : null;
          // Timestamps that read as zero (some software drivers) fall back to the wall clock.
          if (ns !== null && ns > 0) {
            clock = 'gpu-timestamps';
            times.push(ns / 1e6);
          } else times.push(wall);
        } else {
          const t0 = performance.now();
          await r.run();
          times.push(performance.now() - t0);
          walls.push(times[times.length - 1]!);
        }
      }
      if (c.timing === 'gpu') peak = dev.memoryStats();
    }
  } finally {
    await r.dispose();
  }
  const ms = median(times);
  return {
    name: c.name,
    impl: c.impl,
    msMedian: ms,
    msMin: Math.min(...times),
    wallMedian: median(walls),
    reps: times.length,
    clock,
    ...(c.flops ? { gflops: c.flops / (ms * 1e6) } : {}),
    ...(c.bytes ? { gbps: c.bytes / (ms * 1e6) } : {}),
    ...(peak ? { peakMiB: Math.round(peak.peakBytes / 2 ** 20), heldMiB: Math.round(peak.peakHeldBytes / 2 ** 20) } : {}),
  };
}

/** Runs the cases the command line selects, prints the tables and writes the results to `defaultOut` (or --out). */
export async function runBench(all: BenchCase[], defaultOut: string): Promise<void> {
  const quick = process.argv.includes('--quick');
  const filter = argValue('filter');
  const reps = Number(argValue('reps') ?? (quick ? 3 : 7));
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`bench: --reps must be a positive integer, got ${argValue('reps')}`);
  const outDir = argValue('out') ?? defaultOut;
  const device = await init({ powerPreference: 'high-performance' });
  const ctx: BenchContext = { device, quick };
  const cases = all.filter((c) => !filter || `${c.name} ${c.impl}`.includes(filter));
  const toggles = [...(device.dawnToggles.enable ?? []), ...(device.dawnToggles.disable ?? []).map((t) => `-${t}`)];
  const header =
    `hnfnet bench on ${device.adapterInfo}${toggles.length ? ` (Dawn toggles: ${toggles.join(',')})` : ''}; ` +
    `${cases.length} cases, ${reps} timed runs each (medians)${quick ? ', quick sizes' : ''}`;
  console.log(header);
  const rows: Row[] = [];
  for (const c of cases) {
    process.stderr.write(`  ${c.name} [${c.impl}] ...\n`);
    try {
      rows.push(await timeCase(c, ctx, reps));
    } catch (e) {
      rows.push({ name: c.name, impl: c.impl, msMedian: NaN, msMin: NaN, wallMedian: NaN, reps: 0, clock: 'wall', error: e instanceof Error ? e.message.split('\n')[0]! : String(e) });
    }
  }
  const text = [table(rows), '', 'side by side (GFLOP/s, or GB/s, or ms; "x hnfnet": time relative to hnfnet\'s)', sideBySide(rows)].join('\n');
  console.log(text);
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(outDir, `bench-${stamp}.json`);
  const withRatios = rows.map((r) => ({ ...r, ...(timeRatio(r, rows) !== undefined ? { timeVsHnfnet: timeRatio(r, rows) } : {}) }));
  // Atomic: a bench cut off mid-write leaves the previous results, never half a file.
  await writeFileAtomic(file, JSON.stringify({ adapter: device.adapterInfo, dawnToggles: device.dawnToggles, date: new Date().toISOString(), quick, reps, filter: filter ?? null, rows: withRatios }, null, 2));
  await writeFileAtomic(file.replace(/\.json$/, '.txt'), `${header}\n${text}\n`);
  console.log(`\nwrote ${file} (and the tables beside it, .txt)`);
}

/** The entry points' tail: run, then exit (Dawn's instance would keep the process alive). */
export function main(all: () => Promise<BenchCase[]>, defaultOut: string): void {
  all()
    .then((cases) => runBench(cases, defaultOut))
    .then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
}
