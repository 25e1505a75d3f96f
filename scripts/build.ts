/**
 * The published build (`npm run build`; `npm pack` and `npm publish` run it through `prepack`):
 *
 * - dist/src/: every file of src/ compiled by tsc (tsconfig.build.json) to ES modules, each with
 *   its `.d.ts` and a source map holding the TypeScript. Node's entry is dist/src/index.js, the
 *   CLI dist/src/cli/main.js. Compiled file by file rather than bundled, so that the loader's
 *   worker (`new URL('./loader-worker.node.js', import.meta.url)`) sits where it is looked for and
 *   the build needs to know no file but the entries.
 * - dist/hnfnet.browser.js: src/browser.ts bundled by esbuild with its dependencies, so that a
 *   bare `<script type="module">` can import it; dist/hnfnet-segmenter.js likewise, for the demo's
 *   `mountSegmenter`. Each has a `.js.map` and a `.d.ts` beside it that re-exports the compiled
 *   declarations (dist/web/ keeps only the declarations: the bundle is the demo's code).
 *
 * Run: npx tsx scripts/build.ts
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LIBRARY_OUTFILE, ROOT, SEGMENTER_OUTFILE, buildBrowserBundles, describeBuildError } from './build-browser.js';
import { writeFileAtomic } from '../src/data/atomic-write.node.js';

export const DIST = path.join(ROOT, 'dist');

/**
 * The public entries' declarations. They get the reference to @webgpu/types (a dependency)
 * that tsc does not emit, so that a consumer's TypeScript knows GPUDevice and friends without
 * adding the package to its own `types`.
 */
const ENTRY_DECLARATIONS = ['src/index.d.ts', 'src/browser.d.ts', 'web/segmenter.d.ts'];
const WEBGPU_TYPES = '/// <reference types="@webgpu/types" />\n';

/** Bundles and the compiled declarations they re-export. */
const BUNDLE_DECLARATIONS: [bundle: string, declarations: string][] = [
  [LIBRARY_OUTFILE, './src/browser.js'],
  [SEGMENTER_OUTFILE, './web/segmenter.js'],
];

function compile(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`build: tsc -p tsconfig.build.json failed (exit status ${r.status ?? r.signal})`);
}

/** Builds dist/ from scratch; returns lines for the log. */
export async function build(): Promise<string[]> {
  const t0 = performance.now();
  await rm(DIST, { recursive: true, force: true });
  compile();
  const log = [`dist/src, dist/web: tsc in ${((performance.now() - t0) / 1000).toFixed(1)} s`];
  const web = path.join(DIST, 'web');
  for (const f of await readdir(web)) if (!f.endsWith('.d.ts')) await rm(path.join(web, f));
  for (const rel of ENTRY_DECLARATIONS) {
    const file = path.join(DIST, rel);
    if (!existsSync(file)) throw new Error(`build: tsc wrote no ${path.relative(ROOT, file)}; is its source still a public entry?`);
    await writeFileAtomic(file, WEBGPU_TYPES + (await readFile(file, 'utf8')));
  }
  log.push(...(await buildBrowserBundles()));
  for (const [bundle, declarations] of BUNDLE_DECLARATIONS) {
    await writeFileAtomic(bundle.replace(/\.js$/, '.d.ts'), `export * from '${declarations}';\n`);
  }
  return log;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    for (const line of await build()) console.log(line);
  } catch (e) {
    console.error(describeBuildError(e));
    process.exit(1);
  }
}
