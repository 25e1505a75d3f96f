/**
 * The published package, used as a researcher would: `npm pack` (its prepack builds), the
 * tarball installed into a fresh project, then the README's example with plain node, the CLI
 * from node_modules/.bin, TypeScript consumers (node16, bundler, bundler for browsers) with
 * `strict`, an esbuild browser bundle and a bare `<script type="module">` page in Chromium, and
 * the tarball's file list and size.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNiftiFile } from '../../src/data/index.node.js';
import { ROOT } from '../../scripts/build-browser.js';
import { contentType, startLocalServer, type LocalServer } from '../../scripts/local-server.js';
import { chromiumMissing, launchChromium, type Browser } from '../browser/chromium.js';
import { HAVE_SHARED, SHARED_BRATS } from '../data/helpers.js';
import { exportTargets, installConsumer, packRepository, readmeExample, run, tempWork, type Packed } from './consumer.js';

/**
 * Everything but the weights under models/: measured 1.31 MiB packed, 5.13 MiB unpacked, 573
 * files (0.1.0). The limits leave room to grow, not to ship tests; weights (already dense
 * floats, which gzip hardly shrinks) count on top, byte for byte.
 */
const MAX_CODE_PACKED_BYTES = 3 << 20;
const MAX_CODE_UNPACKED_BYTES = 12 << 20;
const MAX_CODE_ENTRIES = 1000;

const work = tempWork();
let packed: Packed;
let consumer: string;

beforeAll(async () => {
  packed = await packRepository(work);
  consumer = await installConsumer(work, packed);
}, 900_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const files = (): string[] => packed.report.files.map((f) => f.path);
const cli = (args: string[], timeoutMs = 300_000) => run(path.join(consumer, 'node_modules/.bin/hnfnet'), args, { cwd: consumer, timeoutMs });

/** The loss and the first four gradient values that the README's example prints. */
interface ExampleResult {
  loss: number;
  grad: number[];
}

function parseExampleOutput(stdout: string): ExampleResult {
  const numbers = [...stdout.replace(/Float32Array\(\d+\)/, '').matchAll(/-?\d+(\.\d+)?(e[-+]?\d+)?/g)].map((m) => Number(m[0]));
  if (numbers.length !== 5) throw new Error(`expected a loss and 4 gradient values, got: ${stdout}`);
  return { loss: numbers[0]!, grad: numbers.slice(1) };
}

let nodeRun: Promise<ExampleResult> | null = null;
/** The README's ten lines, as they are, in example.mjs, run by plain node. */
function nodeExample(): Promise<ExampleResult> {
  nodeRun ??= (async () => {
    writeFileSync(path.join(consumer, 'example.mjs'), readmeExample());
    const r = await run(process.execPath, ['example.mjs'], { cwd: consumer });
    if (r.code !== 0) throw new Error(`node example.mjs failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return parseExampleOutput(r.stdout);
  })();
  return nodeRun;
}

let prepared: Promise<{ weights: string; caseDir: string }> | null = null;
/** Random tiny weights and a 32³ phantom case folder, written by the installed library. */
function prepare(): Promise<{ weights: string; caseDir: string }> {
  prepared ??= (async () => {
    const script = [
      "import { writeFileSync } from 'node:fs';",
      "import { init, buildModel, presetConfig, saveWeights, writePhantomCase } from 'hnfnet';",
      'await init();',
      "const model = buildModel('tiny', { seed: 3 });",
      "writeFileSync('tiny.safetensors', await saveWeights(model, presetConfig('tiny'), 'tiny'));",
      "console.log(await writePhantomCase('cases', { size: 32, seed: 1 }));",
    ].join('\n');
    writeFileSync(path.join(consumer, 'prepare.mjs'), script);
    const r = await run(process.execPath, ['prepare.mjs'], { cwd: consumer });
    if (r.code !== 0) throw new Error(`node prepare.mjs failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    return { weights: path.join(consumer, 'tiny.safetensors'), caseDir: path.resolve(consumer, r.stdout.trim().split('\n').pop()!) };
  })();
  return prepared;
}

describe('the tarball', () => {
  it('holds the built code, its types and maps, the CLI, the docs, README and LICENSE, and no tests, bench, python or sources', () => {
    const list = files();
    const allowed = /^(package\.json|README\.md|LICENSE|bin\/[\w-]+\.js|dist\/.+\.(js|js\.map|d\.ts)|docs\/.+\.md|models\/.+)$/;
    expect(list.filter((f) => !allowed.test(f))).toEqual([]);
    expect(list.filter((f) => /\.test\.|(^|\/)(tests?|bench|python|scripts|examples)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
    for (const f of [
      'LICENSE',
      'README.md',
      'bin/hnfnet.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/index.js.map',
      'dist/src/browser.d.ts',
      'dist/src/cli/main.js',
      'dist/hnfnet.browser.js',
      'dist/hnfnet.browser.js.map',
      'dist/hnfnet.browser.d.ts',
      'dist/hnfnet-segmenter.js',
      'dist/hnfnet-segmenter.js.map',
      'dist/hnfnet-segmenter.d.ts',
      'dist/web/segmenter.d.ts',
      'docs/CLI.md',
      'docs/api/README.md',
    ])
      expect(list, f).toContain(f);
    // Every compiled module has its declarations and its source map.
    for (const js of list.filter((f) => f.startsWith('dist/src/') && f.endsWith('.js'))) {
      expect(list, js).toContain(js.replace(/\.js$/, '.d.ts'));
      expect(list, js).toContain(`${js}.map`);
    }
    // The shipped weights and their card, whatever the models/ folder holds.
    const modelsDir = path.join(packed.repo, 'models');
    const models = existsSync(modelsDir) ? readdirSync(modelsDir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(path.join(modelsDir, f)).isFile()).map((f) => `models/${f}`) : [];
    for (const f of models) expect(list, f).toContain(f);
    expect(readFileSync(path.join(packed.repo, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    const code = packed.report.files.filter((f) => !f.path.startsWith('models/'));
    const modelBytes = packed.report.unpackedSize - code.reduce((n, f) => n + f.size, 0);
    expect(packed.report.size).toBeLessThan(MAX_CODE_PACKED_BYTES + modelBytes);
    expect(packed.report.unpackedSize - modelBytes).toBeLessThan(MAX_CODE_UNPACKED_BYTES);
    expect(code.length).toBeLessThan(MAX_CODE_ENTRIES);
    console.log(`${packed.report.filename}: ${(packed.report.size / 2 ** 20).toFixed(2)} MiB packed, ${(packed.report.unpackedSize / 2 ** 20).toFixed(2)} MiB unpacked, ${packed.report.entryCount} files`);
  });

  it('resolves main, types, bin and every exports target to a file in it', () => {
    const list = files();
    const m = packed.manifest;
    const targets = [m.main, m.types, ...Object.values(m.bin ?? {}), ...exportTargets(m.exports).map((t) => t.target)];
    for (const t of targets) expect(list, String(t)).toContain(String(t).replace(/^\.\//, ''));
    const conditions = new Set(exportTargets(m.exports).flatMap((t) => t.conditions));
    for (const c of ['types', 'node', 'browser', 'default']) expect(conditions, c).toContain(c);
    // The built CLI runs with plain node: tsx is a dev tool only.
    expect(m.dependencies ?? {}).not.toHaveProperty('tsx');
  });
});

describe('installed in a fresh project', () => {
  it('plain node imports the Node build and runs the README example: a loss and gradient values', async () => {
    const resolved = await run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('hnfnet'))"], { cwd: consumer });
    expect(resolved.stdout.trim()).toMatch(/\/node_modules\/hnfnet\/dist\/src\/index\.js$/);
    expect(existsSync(path.join(consumer, 'node_modules/tsx'))).toBe(false);
    const r = await nodeExample();
    // mean(relu(·)) of a convolution of unit normals: positive, finite; the weights' gradient is not all zero.
    expect(r.loss).toBeGreaterThan(0);
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.grad.every(Number.isFinite)).toBe(true);
    expect(r.grad.some((g) => g !== 0)).toBe(true);
  }, 300_000);

  it('the hnfnet command (node_modules/.bin) runs the built CLI: help, and infer on a phantom case with weights written by the library', async () => {
    const help = await cli(['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^\s+infer\s/m);
    const { weights, caseDir } = await prepare();
    const out = path.join(consumer, 'seg.nii.gz');
    const r = await cli(['infer', '--model', weights, '--case', caseDir, '--out', out, '--tta', '1', '--window', '32', '--overlap', '0']);
    expect(r.code, r.stderr).toBe(0);
    const seg = await readNiftiFile(out);
    expect(seg.dims).toEqual([32, 32, 32]);
    for (const l of new Set(seg.data)) expect([0, 1, 2, 4]).toContain(l);
  }, 300_000);

  const shipped = (): string | undefined => files().find((f) => /^models\/[^/]+\.safetensors$/.test(f));
  it.skipIf(!HAVE_SHARED)('infers a real case with the shipped weights (when models/ has any)', async (ctx) => {
    const weights = shipped();
    if (!weights) return ctx.skip();
    const out = path.join(consumer, 'real.nii.gz');
    const caseDir = path.join(SHARED_BRATS, 'Brats18_TCIA10_628_1');
    const r = await cli(['infer', '--model', path.join(consumer, 'node_modules/hnfnet', weights), '--case', caseDir, '--out', out, '--tta', '1'], 900_000);
    expect(r.code, r.stderr).toBe(0);
    expect((await readNiftiFile(out)).dims).toEqual([240, 240, 155]);
  }, 900_000);

  it('TypeScript (strict) type-checks consumers with moduleResolution node16, bundler, and bundler for browsers', async () => {
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const strict = { strict: true, noEmit: true, target: 'ES2022', skipLibCheck: false };
    const nodeCode = [
      "import { init, randn, conv3d, relu, mean, backward, readNiftiFile, type Device, type Tensor } from 'hnfnet';",
      'const device: Device = await init();',
      'const x: Tensor = randn([1, 4, 8, 8, 8], { seed: 0 });',
      'const w = randn([8, 4, 3, 3, 3], { seed: 1, requiresGrad: true });',
      'const loss = mean(relu(conv3d(x, w, null, { padding: 1 })));',
      'backward(loss);',
      'const value: number = await loss.item();',
      'const grad: Float32Array = await w.grad!.data();',
      "const vol = await readNiftiFile('x.nii.gz');",
      'console.log(device.adapterInfo, value, grad[0], vol.dims);',
      '// @ts-expect-error conv3d needs a weight: the types are real, not any',
      'conv3d(x);',
    ].join('\n');
    const browserCode = [
      "import { init, randn, type Tensor } from 'hnfnet';",
      "import * as browser from 'hnfnet/browser';",
      "import { mountSegmenter, type SegmenterResult } from 'hnfnet/segmenter';",
      '// @ts-expect-error the browser build has no file readers: this resolved to its types',
      "import { readNiftiFile } from 'hnfnet';",
      'await init();',
      'const t: Tensor = browser.zeros([2, 2]);',
      'const x: Tensor = randn([2, 2], { seed: 0 });',
      "const seg = mountSegmenter(document.createElement('div'), { window: 32, onSegmented: (r: SegmenterResult) => console.log(r.dims) });",
      'await seg.ready;',
      'console.log(t, x, readNiftiFile);',
    ].join('\n');
    const projects: Record<string, { compilerOptions: Record<string, unknown>; code: string }> = {
      node16: { compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16', types: ['node'] }, code: nodeCode },
      bundler: { compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler', types: ['node'] }, code: nodeCode },
      // No Node types at all: the browser build's declarations must not need them.
      'bundler-browser': { compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler', customConditions: ['browser'], lib: ['ES2022', 'DOM'], types: [] }, code: browserCode },
    };
    const results = await Promise.all(
      Object.entries(projects).map(async ([name, p]) => {
        const dir = path.join(consumer, `ts-${name}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: p.compilerOptions, files: ['main.ts'] }, null, 2));
        writeFileSync(path.join(dir, 'main.ts'), `${p.code}\nexport {};\n`);
        return { name, r: await run(process.execPath, [tsc, '-p', dir], { cwd: dir }) };
      }),
    );
    for (const { name, r } of results) expect(`${name}: exit ${r.code}\n${r.stdout}`, r.stderr).toBe(`${name}: exit 0\n`);
  }, 300_000);
});

const missing = chromiumMissing();
if (missing) console.warn(`${path.basename(import.meta.url)}: browser consumers skipped: ${missing}`);

describe.skipIf(missing !== null)(`installed, in a browser${missing ? ` (skipped: ${missing})` : ''}`, () => {
  /** Appended to the README example so that the page hands its numbers back. */
  /** An empty icon, so that Chromium's request for /favicon.ico is not a failed load. */
  const HEAD = '<!doctype html>\n<link rel="icon" href="data:,">\n';
  const REPORT = '\nglobalThis.hnfnetResult = [await loss.item(), ...Array.from((await w.grad.data()).slice(0, 4))];\n';
  let server: LocalServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startLocalServer((pathname) => {
      const file = path.join(consumer, path.normalize(pathname));
      if (!file.startsWith(consumer + path.sep) || !existsSync(file) || !statSync(file).isFile()) return null;
      return { body: readFileSync(file), type: contentType(file) };
    });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens a page of the consumer's and waits for the `hnfnetResult` it sets; a page error or a failed load ends the wait. */
  async function pageResult(page: string, timeoutMs = 180_000): Promise<unknown> {
    browser.log.length = 0;
    await browser.page.goto(server.url + page);
    const t0 = performance.now();
    for (;;) {
      const r = await browser.page.evaluate(() => (globalThis as { hnfnetResult?: unknown }).hnfnetResult ?? null);
      if (r !== null) return r;
      const failed = browser.log.some((l) => l.startsWith('[pageerror]') || l.includes('Failed to load'));
      if (failed || performance.now() - t0 > timeoutMs) throw new Error(`${page}: ${failed ? 'failed' : `no result in ${timeoutMs / 1000} s`}; page log:\n${browser.log.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  function expectSameAsNode(got: unknown, node: ExampleResult): void {
    const [loss, ...grad] = got as number[];
    // SwiftShader and lavapipe sum in different orders: float32 rounding, not different maths.
    expect(loss).toBeCloseTo(node.loss, 4);
    for (let i = 0; i < 4; i++) expect(Math.abs(grad[i]! - node.grad[i]!)).toBeLessThan(1e-5 + 1e-3 * Math.abs(node.grad[i]!));
  }

  it('esbuild bundles the README example for the browser from the browser build, and it runs in Chromium with the same numbers as Node', async () => {
    writeFileSync(path.join(consumer, 'app.js'), readmeExample() + REPORT);
    const built = await esbuild.build({ entryPoints: ['app.js'], absWorkingDir: consumer, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: 'app.bundle.js', metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(built.metafile.inputs);
    expect(inputs).toContain('node_modules/hnfnet/dist/hnfnet.browser.js');
    expect(inputs.filter((f) => f.includes('hnfnet/dist/src/'))).toEqual([]);
    writeFileSync(path.join(consumer, 'bundled.html'), `${HEAD}<script type="module" src="./app.bundle.js"></script>\n`);
    expectSameAsNode(await pageResult('bundled.html'), await nodeExample());
  }, 300_000);

  it('a bare <script type="module"> page imports the browser file and runs the README example', async () => {
    const code = readmeExample().replace("from 'hnfnet'", "from './node_modules/hnfnet/dist/hnfnet.browser.js'");
    expect(code).toContain('hnfnet.browser.js');
    writeFileSync(path.join(consumer, 'bare.html'), `${HEAD}<script type="module">\n${code}${REPORT}</script>\n`);
    expectSameAsNode(await pageResult('bare.html'), await nodeExample());
  }, 300_000);

  it('a bare page mounts the segmenter bundle, loads weights written by the Node build and segments a phantom', async () => {
    await prepare();
    const page = [
      HEAD + '<div id="segmenter"></div>',
      '<script type="module">',
      "  import { mountSegmenter } from './node_modules/hnfnet/dist/hnfnet-segmenter.js';",
      "  const seg = mountSegmenter(document.getElementById('segmenter'), { weightsUrl: 'tiny.safetensors', initialCase: 'phantom', phantomSize: 32, window: 32, overlap: 0, trainSteps: 1, trainSeconds: 1 });",
      '  await seg.ready;',
      '  const r = await seg.segment();',
      "  const error = document.querySelector('.hnf-error')?.textContent ?? null;",
      '  globalThis.hnfnetResult = { error, dims: r?.dims ?? null, voxels: r?.labels.length ?? 0, windows: r?.windows ?? 0 };',
      '</script>',
    ].join('\n');
    writeFileSync(path.join(consumer, 'segmenter.html'), page);
    const r = (await pageResult('segmenter.html')) as { error: string | null; dims: number[] | null; voxels: number; windows: number };
    expect(r, browser.log.join('\n')).toEqual({ error: null, dims: [32, 32, 32], voxels: 32 ** 3, windows: 1 });
    expect(await browser.page.locator('.hnf-segmenter').getAttribute('data-state')).toBe('segmented');
  }, 300_000);
});
