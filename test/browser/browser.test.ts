/**
 * The kernel and conformance suites in headless Chromium (WebGPU on SwiftShader here), checked
 * against the same tolerances as in Node and compared with a Node run of the same cases.
 *
 * Node side: bundle test/browser/suite.ts (through the node-free plugin, so this is also a
 * build check), serve it with the conformance cases on 127.0.0.1, load it in Chromium, wait
 * for `window.__hnfnetSuite`, then run the same cases and checks on Dawn in this process.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../src/index.js';
import { parseCase } from '../../src/conformance/case.js';
import { runCase, type CaseResult } from '../../src/conformance/runner.js';
import { ROOT, bundleForBrowser } from '../../scripts/build-browser.js';
import { startLocalServer, type LocalServer } from '../../scripts/local-server.js';
import { chromiumMissing, launchChromium, type Browser } from './chromium.js';
import { runKernelChecks, type CheckResult } from './kernel-checks.js';
import type { CaseFile, SuiteReport } from './suite.js';

const CASES_DIR = path.resolve(ROOT, process.env.HNFNET_CONFORMANCE_DIR ?? '../shared/conformance/examples');
const missing = chromiumMissing();
if (missing) console.warn(`${path.basename(import.meta.url)} skipped: ${missing}`);
const haveCases = existsSync(CASES_DIR);
/** SwiftShader compiles and runs everything on two cores: a few minutes at most. */
const SUITE_TIMEOUT_MS = 240_000;

function readCases(): CaseFile[] {
  if (!haveCases) return [];
  return readdirSync(CASES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(path.join(CASES_DIR, file), 'utf8')) as unknown }));
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));

describe.skipIf(missing !== null)(`browser suite in headless Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const cases = readCases();
  let server: LocalServer | null = null;
  let browser: Browser | null = null;
  let report: SuiteReport;
  let browserMs = 0;

  beforeAll(async () => {
    const bundle = await bundleForBrowser(path.join(ROOT, 'test/browser/suite.ts'));
    const html = '<!doctype html><meta charset="utf-8"><title>hnfnet browser suite</title><body><script type="module" src="suite.js"></script>';
    const casesJson = JSON.stringify(cases);
    server = await startLocalServer((p) =>
      p === '/' ? { body: html, type: 'text/html' } : p === '/suite.js' ? { body: bundle.code, type: 'text/javascript' } : p === '/cases.json' ? { body: casesJson, type: 'application/json' } : null,
    );
    browser = await launchChromium();
    const t0 = performance.now();
    await browser.page.goto(server.url);
    await browser.page.waitForFunction(() => window.__hnfnetSuite?.done === true, null, { timeout: SUITE_TIMEOUT_MS, polling: 250 });
    browserMs = performance.now() - t0;
    report = (await browser.page.evaluate(() => window.__hnfnetSuite))!;
  }, SUITE_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('gets a WebGPU adapter in Chromium', () => {
    expect(report.fatal, `${report.fatal}\n${browser?.log.join('\n')}`).toBeUndefined();
    console.log(`browser suite: adapter "${report.adapter}", ${report.cases.length} cases + ${report.checks.length} kernel checks in ${(browserMs / 1000).toFixed(1)} s`);
  });

  it('passes every kernel check, and agrees with the same checks on Dawn', async () => {
    const failed = report.checks.filter((c) => c.status !== 'pass');
    expect(failed.map((c) => `${c.name}: ${c.status} ${c.detail ?? ''}`)).toEqual([]);
    const node = await runKernelChecks(await init());
    expect(report.checks.map((c) => c.name)).toEqual(node.map((c) => c.name));
    expect(node.filter((c) => c.status !== 'pass').map((c) => c.name)).toEqual([]);
    console.log(comparison('kernel check', report.checks, node));
  });

  it.skipIf(!haveCases)(`passes every conformance case of ${path.relative(ROOT, CASES_DIR)}, and agrees with Node`, async () => {
    expect(report.cases.length).toBe(cases.length);
    const notPassing = report.cases.filter((c) => c.status !== 'pass');
    expect(notPassing.map((c) => `${c.file}: ${c.status} ${c.detail ?? ''}`)).toEqual([]);
    const device = await init();
    const node: CaseResult[] = [];
    for (const f of cases) node.push(await runCase(parseCase(f.json, f.file), device));
    // Same verdict case by case: a kernel that only works on one WebGPU implementation shows here.
    expect(report.cases.map((c) => `${c.name}: ${c.status}`)).toEqual(node.map((c) => `${c.name}: ${c.status}`));
    console.log(comparison('conformance case', report.cases, node));
  });
});

/** A table of max-abs-errors, browser against Node, for the test log. */
function comparison(what: string, browser: readonly (CheckResult | CaseResult)[], node: readonly (CheckResult | CaseResult)[]): string {
  const lines = [`${what.padEnd(60)} ${'chromium'.padStart(9)} ${'node'.padStart(9)}`];
  let worst = 0;
  browser.forEach((b, i) => {
    const n = node[i]!;
    worst = Math.max(worst, Math.abs(b.maxAbsErr - n.maxAbsErr));
    lines.push(`${b.name.slice(0, 60).padEnd(60)} ${fmt(b.maxAbsErr).padStart(9)} ${fmt(n.maxAbsErr).padStart(9)}`);
  });
  lines.push(`largest |chromium − node| of the max-abs-errors: ${fmt(worst)}`);
  return lines.join('\n');
}
