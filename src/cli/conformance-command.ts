import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from './commands.js';
import { UsageError } from './args.js';
import { parseCase } from '../conformance/case.js';
import { runCase, type CaseResult } from '../conformance/runner.js';
import { init } from '../index.js';

function listCases(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`conformance: no such file or folder: ${p}`);
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        const q = join(p, e);
        if (statSync(q).isDirectory() || e.endsWith('.json')) walk(q);
      }
    } else out.push(p);
  };
  for (const p of paths) walk(p);
  return out;
}

function fmtErr(x: number): string {
  return Number.isFinite(x) ? x.toExponential(2) : 'n/a';
}

export const command: Command = {
  usage: 'hnfnet conformance <case.json | folder> ...',
  async run(argv) {
    if (argv.length === 0) throw new UsageError(`usage: ${this.usage}`);
    const files = listCases(argv);
    if (files.length === 0) throw new UsageError(`conformance: no .json cases under ${argv.join(', ')}`);
    const device = await init();
    const results: CaseResult[] = [];
    for (const f of files) {
      let r: CaseResult;
      try {
        const c = parseCase(JSON.parse(readFileSync(f, 'utf8')), f);
        r = await runCase(c, device);
      } catch (e) {
        r = { name: f, op: '?', status: 'error', maxAbsErr: Infinity, detail: e instanceof Error ? e.message : String(e) };
      }
      results.push(r);
      const tag = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'FAIL' }[r.status];
      const err = r.status === 'skip' ? '' : `  max abs err ${fmtErr(r.maxAbsErr)}`;
      console.log(`${tag}  ${r.name.padEnd(28)} ${r.op.padEnd(24)}${err}${r.detail ? `  (${r.detail})` : ''}`);
    }
    const passed = results.filter((r) => r.status === 'pass').length;
    const failed = results.filter((r) => r.status === 'fail' || r.status === 'error').length;
    const skipped = results.filter((r) => r.status === 'skip');
    if (skipped.length) console.log(`skipped ops (not built yet): ${[...new Set(skipped.map((r) => r.op))].join(', ')}`);
    // The last line stays exactly "N passed, N failed[, N skipped]" for CI's reader.
    console.log(`${passed} passed, ${failed} failed${skipped.length ? `, ${skipped.length} skipped` : ''}`);
    return failed > 0 ? 1 : 0;
  },
};
