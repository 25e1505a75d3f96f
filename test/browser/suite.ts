/**
 * The browser side of the browser test run (bundled by browser.test.ts, loaded into headless
 * Chromium): every conformance case the server lists at `cases.json`, then the kernel checks,
 * on the page's own WebGPU (navigator.gpu). Results go to `window.__hnfnetSuite` for the Node
 * side and into a table for a person looking at the page.
 */
import { init, type Device } from '../../src/browser.js';
import { parseCase } from '../../src/conformance/case.js';
import { runCase, type CaseResult } from '../../src/conformance/runner.js';
import { runKernelChecks, type CheckResult } from './kernel-checks.js';

export interface TimedCase extends CaseResult {
  file: string;
  ms: number;
}

export interface SuiteReport {
  done: boolean;
  adapter: string;
  /** Set when nothing could run (no WebGPU, unreadable cases). */
  fatal?: string;
  cases: TimedCase[];
  checks: CheckResult[];
  ms: number;
}

export interface CaseFile {
  file: string;
  json: unknown;
}

declare global {
  interface Window {
    __hnfnetSuite?: SuiteReport;
  }
}

const report: SuiteReport = { done: false, adapter: '', cases: [], checks: [], ms: 0 };
window.__hnfnetSuite = report;

const table = document.createElement('table');
document.body.append(table);

function row(kind: string, name: string, status: string, err: number, detail?: string): void {
  const tr = table.insertRow();
  for (const text of [kind, name, status, Number.isFinite(err) ? err.toExponential(2) : String(err), detail ?? '']) tr.insertCell().textContent = text;
}

async function runCases(device: Device, files: readonly CaseFile[]): Promise<void> {
  for (const f of files) {
    const t0 = performance.now();
    let r: CaseResult;
    try {
      r = await runCase(parseCase(f.json, f.file), device);
    } catch (e) {
      r = { name: f.file, op: '?', status: 'error', maxAbsErr: Infinity, detail: e instanceof Error ? e.message : String(e) };
    }
    report.cases.push({ ...r, file: f.file, ms: performance.now() - t0 });
    row('case', r.name, r.status, r.maxAbsErr, r.detail);
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  try {
    const device = await init();
    report.adapter = device.adapterInfo;
    const res = await fetch('cases.json');
    if (!res.ok) throw new Error(`cases.json: HTTP ${res.status}`);
    await runCases(device, (await res.json()) as CaseFile[]);
    const only = new URLSearchParams(location.search).get('checks') ?? undefined;
    report.checks = await runKernelChecks(device, (r) => row('kernel', r.name, r.status, r.maxAbsErr, r.detail), only);
  } catch (e) {
    report.fatal = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    row('fatal', '', 'error', Infinity, report.fatal);
  } finally {
    report.ms = performance.now() - t0;
    report.done = true;
    document.title = 'done';
  }
}

void main();
