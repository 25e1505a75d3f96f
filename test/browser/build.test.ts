/** The browser bundles build, and nothing Node-only can get into them (no browser needed). */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LIBRARY_OUTFILE, ROOT, SEGMENTER_CHUNKS, SEGMENTER_ENTRY, bareProcessUse, buildLibrary, bundleForBrowser, describeBuildError, nodeOnlyFile, nodeOnlyReason } from '../../scripts/build-browser.js';

describe('browser build', () => {
  it('bundles the library (src/browser.ts) to dist/hnfnet.browser.js without Node-only code', async () => {
    const b = await buildLibrary();
    expect(existsSync(LIBRARY_OUTFILE)).toBe(true);
    expect(b.inputs.some((f) => f.endsWith('.node.ts') || f.startsWith('src/cli/'))).toBe(false);
    const code = readFileSync(LIBRARY_OUTFILE, 'utf8');
    expect(code).not.toMatch(/from\s*["'](node:|webgpu|fs|worker_threads)/);
    expect(code).toMatch(/export\s*{/);
    // The public surface the README promises for browsers.
    for (const name of ['init', 'tensor', 'conv3d', 'Device']) expect(code).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it('bundles the demo and its model, data and inference code', async () => {
    const b = await bundleForBrowser(path.join(ROOT, 'web/main.ts'));
    for (const f of ['src/infer/inferencer.ts', 'src/data/phantom.ts', 'src/nn/optim/adam.ts', 'web/segmenter.ts']) expect(b.inputs).toContain(f);
  });

  it('splits NiiVue off the segmenter bundle into a part of its own, without the zarr codecs it never uses', async () => {
    const b = await bundleForBrowser(SEGMENTER_ENTRY, { minify: true, chunks: SEGMENTER_CHUNKS });
    expect(b.inputs).toContain('node_modules/@niivue/niivue/build/niivue/index.js');
    const names = [...b.files.keys()];
    const viewer = names.filter((n) => /^hnfnet-segmenter-parts\/niivue-view-\w+\.js$/.test(n));
    expect(viewer, names.join(', ')).toHaveLength(1);
    // The first file only imports the viewer's part, when the viewer opens.
    expect(b.code).not.toMatch(/WebGL2RenderingContext|attachToCanvas/);
    expect(b.code).toMatch(new RegExp(`import\\(["']\\./${viewer[0]!.replace('.', '\\.')}["']\\)`));
    expect(b.files.get(viewer[0]!)).toMatch(/attachToCanvas/);
    expect(b.code.length).toBeLessThan(256 << 10);
    // numcodecs' WebAssembly codecs (1.3 MiB) are stubs that say why.
    for (const [name, text] of b.files) expect(text.length, name).toBeLessThan(1 << 20);
    expect([...b.files.values()].join('\n')).toContain('not implemented: numcodecs/zstd (zarr compression)');
  });

  it('fails, naming the culprit, when the Node entry (Dawn) is bundled', async () => {
    const err = await bundleForBrowser(path.join(ROOT, 'src/index.ts')).then(
      () => null,
      (e: unknown) => describeBuildError(e),
    );
    expect(err).toMatch(/device\.node\.ts is a Node-only file/);
  });

  it('catches bare uses of Node’s process global, which would throw only at run time in a browser', () => {
    expect(bareProcessUse('const tiles = process.env.HNFNET_TILES;')).toEqual({ line: 1, text: 'const tiles = process.env.HNFNET_TILES;' });
    expect(bareProcessUse('x;\nif (process?.env) y();')?.line).toBe(2);
    expect(bareProcessUse("const p = (globalThis as { process?: unknown }).process;")).toBeNull();
    expect(bareProcessUse('if (typeof process !== "undefined" && process.env.X) {}')).toBeNull();
    expect(bareProcessUse(' * the process.env of the worker')).toBeNull();
    expect(bareProcessUse('preprocess.run(); // process.exit()')).toBeNull();
  });

  it('recognises Node-only imports and files', () => {
    for (const spec of ['fs', 'node:fs', 'fs/promises', 'worker_threads', 'node:worker_threads', 'path', 'webgpu', 'onnxruntime-node']) expect(nodeOnlyReason(spec), spec).not.toBeNull();
    for (const spec of ['fflate', './tensor/index.js', '../data/index.js', 'nifti-reader-js', 'gl-matrix']) expect(nodeOnlyReason(spec), spec).toBeNull();
    expect(nodeOnlyFile(path.join(ROOT, 'src/data/loader.node.ts'))).not.toBeNull();
    expect(nodeOnlyFile(path.join(ROOT, 'src/cli/main.ts'))).not.toBeNull();
    expect(nodeOnlyFile(path.join(ROOT, 'src/data/loader.ts'))).toBeNull();
  });
});
