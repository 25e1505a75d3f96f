import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../data/helpers.js';

const require = createRequire(import.meta.url);
const tsx = require.resolve('tsx/cli');

function tune(args: string[], cache: string) {
  return spawnSync(process.execPath, [tsx, join(REPO_ROOT, 'src/cli/main.ts'), 'tune', ...args], {
    encoding: 'utf8',
    timeout: 400_000,
    env: { ...process.env, HNFNET_TUNE_CACHE: cache, HNFNET_TUNE: '' },
  });
}

describe('hnfnet tune', () => {
  it('tunes the tiny model at a small window within its budget, prints the report and writes the cache', () => {
    const cache = join(mkdtempSync(join(tmpdir(), 'hnfnet-tune-cli-')), 'tune.json');
    // A small total budget: the keys it reaches are measured, the rest stay on the default.
    const r = tune(['--model', 'tiny', '--window', '16', '--budget', '4', '--key-budget', '3', '--reps', '1', '--json'], cache);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { mode: string; where: string; rows: { op: string; family: string; status: string; variant: string; ms: Record<string, number> }[]; totalMs: number; budget: { totalMs: number; perKeyMs: number } };
    expect(report.mode).toBe('on');
    expect(report.where).toBe(cache);
    const tuned = report.rows.filter((x) => x.status === 'tuned');
    expect(tuned.length).toBeGreaterThanOrEqual(1);
    expect(report.rows.some((x) => x.status === 'queued')).toBe(true);
    // Every family of a training step is listed: conv3d's three passes.
    for (const f of ['forward', 'dgrad', 'wgrad']) expect(report.rows.some((x) => x.op === 'conv3d' && x.family === f)).toBe(true);
    for (const row of tuned) expect(row.ms[row.variant]).toBe(Math.min(...Object.values(row.ms)));
    // Bounded: the total budget plus at most one key's budget (a started key finishes its candidate).
    expect(report.totalMs).toBeLessThan(report.budget.totalMs + report.budget.perKeyMs + 5000);
    const saved = JSON.parse(readFileSync(cache, 'utf8')) as { entries: Record<string, { variant: string }> };
    expect(Object.keys(saved.entries)).toHaveLength(tuned.length);
  }, 420_000);

  it('rejects a window the model cannot take, naming the multiple', () => {
    const r = tune(['--model', 'tiny', '--window', '10'], '/nonexistent/tune.json');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--window 10,10,10: every side of a tiny window must be a multiple of \d+/);
  }, 60_000);
});
