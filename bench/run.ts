/**
 * `npm run bench [-- --quick] [--filter text] [--reps n]`: runs every case exported from
 * bench/cases/*.ts, prints a table (median ms, GFLOP/s or GB/s, ratio to hnfnet's figure
 * for the same workload) and writes the results as JSON under bench/results/.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { init } from '../src/index.js';
import { writeOutputFile } from '../src/data/atomic-write.node.js';
import type { BenchCase, BenchContext } from './types.js';
import { median } from './stats.js';

interface Row {
  name: string;
  impl: string;
  msMedian: number;
  msMin: number;
  /** Wall clock from recording to completion (what a peer timed on the host is compared with). */
  wallMedian: number;
  reps: number;
  clock: 'gpu-timestamps' | 'wall';
  gflops?: number;
  gbps?: number;
  error?: string;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function loadCases(): Promise<BenchCase[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'cases');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  const all: BenchCase[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { cases?: BenchCase[] };
    if (mod.cases) all.push(...mod.cases);
  }
  return all;
}

async function timeCase(c: BenchCase, ctx: BenchContext, reps: number): Promise<Row> {
  const r = await c.setup(ctx);
  const dev = ctx.device;
  const times: number[] = [];
  const walls: number[] = [];
  let clock: Row['clock'] = 'wall';
  try {
    for (let i = 0; i < 2; i++) {
      await r.run();
      if (c.timing === 'gpu') await dev.sync();
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
    reps,
    clock,
    ...(c.flops ? { gflops: c.flops / (ms * 1e6) } : {}),
    ...(c.bytes ? { gbps: c.bytes / (ms * 1e6) } : {}),
  };
}

function printTable(rows: Row[]): void {
  const ours = new Map(rows.filter((r) => r.impl === 'hnfnet' && !r.error).map((r) => [r.name, r]));
  const head = ['workload', 'impl', 'ms (median)', 'GFLOP/s', 'GB/s', 'wall ms', 'wall time vs hnfnet', 'clock'];
  const body = rows.map((r) => {
    const o = ours.get(r.name);
    // Peers are timed on the host, so they are compared with hnfnet's wall clock.
    const ratio = r.error ? '' : o && r.impl !== 'hnfnet' ? `${(r.wallMedian / o.wallMedian).toFixed(2)}x` : '';
    return [
      r.name,
      r.impl,
      r.error ? `error: ${r.error}` : r.msMedian.toFixed(2),
      r.gflops !== undefined ? r.gflops.toFixed(2) : '',
      r.gbps !== undefined ? r.gbps.toFixed(2) : '',
      r.error ? '' : r.wallMedian.toFixed(2),
      ratio,
      r.error ? '' : r.clock,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const filter = argValue('filter');
  const reps = Number(argValue('reps') ?? (quick ? 3 : 7));
  const device = await init();
  const ctx: BenchContext = { device, quick };
  const cases = (await loadCases()).filter((c) => !filter || `${c.name} ${c.impl}`.includes(filter));
  console.log(`hnfnet bench on ${device.adapterInfo}; ${cases.length} cases, ${reps} timed runs each (medians)${quick ? ', quick sizes' : ''}`);
  const rows: Row[] = [];
  for (const c of cases) {
    process.stderr.write(`  ${c.name} [${c.impl}] ...\n`);
    try {
      rows.push(await timeCase(c, ctx, reps));
    } catch (e) {
      rows.push({ name: c.name, impl: c.impl, msMedian: NaN, msMin: NaN, wallMedian: NaN, reps: 0, clock: 'wall', error: e instanceof Error ? e.message.split('\n')[0]! : String(e) });
    }
  }
  printTable(rows);
  const outDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  const file = join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  // Atomic: a run cut off while writing leaves no half file among the results.
  await writeOutputFile(file, JSON.stringify({ adapter: device.adapterInfo, date: new Date().toISOString(), quick, reps, rows }, null, 2));
  console.log(`\nwrote ${file}`);
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
