/**
 * The demo's viewer in headless Chromium (WebGL2 on SwiftShader beside the page's WebGPU
 * device), without a segmentation run: a 48³ phantom shown in NiiVue with its reference labels
 * over it, as generated in the page and as picked from files; the plain slice canvases with
 * `viewer=slices`. demo.test.ts checks the prediction overlay after a run.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePhantom } from '../../src/data/index.js';
import { readNiftiFile, writePhantomCase } from '../../src/data/index.node.js';
import { ROOT } from '../../scripts/build-browser.js';
import type { LocalServer } from '../../scripts/local-server.js';
import { startDemoServer } from '../../web/serve.js';
import { chromiumMissing, launchChromium, type Browser } from './chromium.js';
import { labelCounts, niivueState, viewerColours } from './viewer-state.js';

const OUT = path.join(ROOT, 'test-output');
const PHANTOM = { size: 48, seed: 1 };
const QUERY = `?case=phantom&phantomSize=${PHANTOM.size}&phantomSeed=${PHANTOM.seed}&weights=none`;
const missing = chromiumMissing();
if (missing) console.warn(`${path.basename(import.meta.url)} skipped: ${missing}`);

describe.skipIf(missing !== null)(`the demo's viewer in headless Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let server: LocalServer;
  let browser: Browser;
  const phantom = generatePhantom(PHANTOM);

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    server = await startDemoServer();
    browser = await launchChromium({ viewport: { width: 1280, height: 1100 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(query: string): Promise<void> {
    await browser.page.goto(server.url + query);
    // WebGPU ready (the device and NiiVue's WebGL2 context live side by side) and the viewer open.
    await browser.page.waitForSelector('.hnf-segmenter[data-state="ready"]', { timeout: 60_000 });
    await browser.page.waitForSelector('.hnf-viewer:not([data-viewer="loading"])', { timeout: 60_000 });
  }

  it('shows the phantom in NiiVue: FLAIR with the reference labels over it, in their colours, a crosshair readout, T1ce on request', async () => {
    const { page } = browser;
    await open(QUERY);
    expect(await page.locator('.hnf-segmenter h2 small').textContent()).toMatch(/^WebGPU: /);
    const s = await niivueState(page);
    expect(s.viewer, browser.log.join('\n')).toBe('niivue');
    expect(s.volumes.map((v) => v.name)).toEqual(['phantom-1_FLAIR.nii', 'phantom-1_labels.nii']);
    for (const v of s.volumes) expect(v.dims).toEqual(phantom.dims);
    // Voxel for voxel the phantom's labels: every label value, each as often.
    expect(s.volumes[1]!.counts).toEqual(labelCounts(phantom.labels!));
    expect(Object.keys(s.volumes[1]!.counts!).sort()).toEqual(['0', '1', '2', '3']);

    // Every label's colour is drawn; with the overlay off none is.
    const on = (await viewerColours(page, 'niivue'))[0]!;
    expect(on.lit, 'the image is drawn').toBeGreaterThan(on.pixels / 20);
    for (const c of ['red', 'green', 'yellow'] as const) expect(on[c], `${c} pixels with the overlay on`).toBeGreaterThan(20);
    await page.selectOption('select[aria-label="overlay"]', 'none');
    expect((await niivueState(page)).volumes.map((v) => v.name)).toEqual(['phantom-1_FLAIR.nii']);
    const off = (await viewerColours(page, 'niivue'))[0]!;
    expect({ red: off.red, green: off.green, yellow: off.yellow }).toEqual({ red: 0, green: 0, yellow: 0 });
    await page.selectOption('select[aria-label="overlay"]', 'reference');

    // The crosshair starts on the labels' centre; the readout names that voxel's reference label.
    const readout = (await page.locator('[data-readout]').textContent()) ?? '';
    const m = /^voxel \((\d+), (\d+), (\d+)\) · FLAIR [\d.e+-]+ · reference: (.+)$/.exec(readout);
    expect(m, readout).not.toBeNull();
    const [x, y, z] = m!.slice(1, 4).map(Number) as [number, number, number];
    expect((await niivueState(page)).crosshair.map(Math.round)).toEqual([x, y, z]);
    const [X, Y] = phantom.dims;
    const label = phantom.labels![x + X * (y + Y * z)]!;
    expect(m![4]).toBe(['background', 'NCR/NET', 'ED', 'ET'][label]);
    expect(label).toBeGreaterThan(0);

    await page.selectOption('select[aria-label="modality"]', { label: 'T1ce' });
    expect((await niivueState(page)).volumes.map((v) => v.name)).toEqual(['phantom-1_T1ce.nii', 'phantom-1_labels.nii']);
    await page.screenshot({ path: path.join(OUT, 'viewer-niivue.png'), fullPage: true });
  }, 180_000);

  it('shows a case picked as files (a phantom written as BraTS NIfTI files, ET stored as 4) in NiiVue', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hnfnet-viewer-'));
    try {
      const caseDir = await writePhantomCase(dir, { ...PHANTOM, seed: 2 });
      const files = readdirSync(caseDir).map((f) => path.join(caseDir, f));
      const seg = files.find((f) => /_seg\.nii(\.gz)?$/.test(f));
      expect([...new Set((await readNiftiFile(seg!)).data)].sort()).toEqual([0, 1, 2, 4]);
      const { page } = browser;
      await page.setInputFiles('input[type="file"][accept=".nii,.gz"]', files);
      const id = path.basename(caseDir);
      await page.waitForFunction((want: string) => (document.querySelector('.hnf-step')?.textContent ?? '').includes(want), `${id}: 48×48×48`, { timeout: 60_000 });
      const s = await niivueState(page);
      expect(s.volumes.map((v) => v.name)).toEqual([`${id}_T1ce.nii`, `${id}_labels.nii`]);
      for (const v of s.volumes) expect(v.dims).toEqual([48, 48, 48]);
      expect(s.volumes[1]!.counts).toEqual(labelCounts(generatePhantom({ ...PHANTOM, seed: 2 }).labels!));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('draws the plain slices with the labels over them when asked for viewer=slices', async () => {
    const { page } = browser;
    await open(`${QUERY}&viewer=slices`);
    const s = await niivueState(page);
    expect(s).toEqual({ viewer: 'slices', volumes: [], crosshair: [] });
    const views = await viewerColours(page, 'slices');
    expect(views.map((v) => v.canvas)).toEqual(['axial', 'coronal', 'sagittal']);
    for (const v of views) {
      expect(v.lit, `${v.canvas}: image drawn`).toBeGreaterThan(v.pixels / 10);
      expect(v.red + v.green + v.yellow, `${v.canvas}: labels drawn`).toBeGreaterThan(0);
    }
  }, 120_000);
});
