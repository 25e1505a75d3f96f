/**
 * Browser bundles with esbuild: the library (`npm run build:browser` → dist/hnfnet.browser.js),
 * the browser test suite and the demo. Every bundle goes through `nodeFreePlugin`, which fails
 * the build when a Node-only module is reachable from the entry: docs/ARCHITECTURE.md keeps fs,
 * worker_threads and Dawn (`webgpu`) in `*.node.ts` files and src/cli, and a bundler that
 * silently stubs them would only fail later, in a user's browser.
 */
import { builtinModules } from 'node:module';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { writeOutputFile } from '../src/data/atomic-write.node.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LIBRARY_ENTRY = path.join(ROOT, 'src/browser.ts');
export const LIBRARY_OUTFILE = path.join(ROOT, 'dist/hnfnet.browser.js');
/** The embeddable demo: `mountSegmenter` for other pages (see README, "Demo"). */
export const SEGMENTER_ENTRY = path.join(ROOT, 'web/segmenter.ts');
export const SEGMENTER_OUTFILE = path.join(ROOT, 'dist/hnfnet-segmenter.js');
/**
 * Where the segmenter's split-off parts go, beside it: the NiiVue viewer (web/niivue-view.ts),
 * which mountSegmenter imports only when it shows a case, and the code both share.
 */
export const SEGMENTER_CHUNKS = 'hnfnet-segmenter-parts';

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
/** Packages that only work in Node: Dawn's bindings and the native CPU peers of the bench. */
const NODE_PACKAGES = ['webgpu', 'onnxruntime-node'];

/** Why an import cannot be in a browser bundle, or null when it can. */
export function nodeOnlyReason(spec: string): string | null {
  if (spec.startsWith('node:') || NODE_BUILTINS.has(spec) || NODE_BUILTINS.has(spec.split('/')[0]!)) return `"${spec}" is a Node built-in module`;
  const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  if (NODE_PACKAGES.includes(pkg)) return `"${spec}" is a Node-only package`;
  return null;
}

/** Why a source file cannot be in a browser bundle, or null when it can. */
export function nodeOnlyFile(file: string): string | null {
  const rel = path.relative(ROOT, file).split(path.sep).join('/');
  if (/\.node\.[cm]?[jt]s$/.test(rel)) return `${rel} is a Node-only file (*.node.ts)`;
  if (rel.startsWith('src/cli/')) return `${rel} is the command line (src/cli), which is Node-only`;
  return null;
}

/**
 * Node's `process` global used bare (`process.env.X`) in a source file: it bundles fine and
 * then throws "process is not defined" in a browser, at run time. Reading it as
 * `(globalThis as …).process` is the portable spelling and is not flagged.
 */
export function bareProcessUse(source: string): { line: number; text: string } | null {
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const code = lines[i]!.replace(/\/\/.*$/, '');
    if (/^\s*\*/.test(code)) continue;
    if (/(^|[^\w.$])process\s*(\?\.|\.|\[)/.test(code) && !/typeof\s+process/.test(code)) return { line: i + 1, text: lines[i]!.trim() };
  }
  return null;
}

/** Fails the build on any Node-only import, naming the file that makes it. */
export const nodeFreePlugin: esbuild.Plugin = {
  name: 'hnfnet-node-free',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const why = nodeOnlyReason(args.path);
      if (!why) return undefined;
      const from = args.importer ? path.relative(ROOT, args.importer) : '(entry)';
      return { errors: [{ text: `browser bundle: ${from} imports ${why}; move that code to a *.node.ts file or src/cli (docs/ARCHITECTURE.md, Layers)` }] };
    });
    // Resolved files, so that relative imports of Node-only files are caught whatever their spelling.
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
      const why = nodeOnlyFile(args.path);
      if (why) return { errors: [{ text: `browser bundle: reaches ${why}; only src/index.ts may import it (docs/ARCHITECTURE.md, Layers)` }] };
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const use = bareProcessUse(await readFile(args.path, 'utf8'));
      if (!use) return undefined;
      const rel = path.relative(ROOT, args.path);
      return { errors: [{ text: `browser bundle: ${rel}:${use.line} uses Node's \`process\` (${use.text}), which browsers do not have; read it through globalThis (see debugEnabled in src/tensor/device.ts)` }] };
    });
  },
};

/**
 * NiiVue's zarr reader (zarrita) imports numcodecs' blosc, lz4 and zstd codecs on demand: 1.3 MiB
 * of WebAssembly for OME-Zarr volumes, which the segmenter never opens (it hands NiiVue NIfTI
 * bytes). They are replaced by a module that fails with a clear error, should one ever be asked for.
 */
export const unusedCodecsPlugin: esbuild.Plugin = {
  name: 'hnfnet-unused-codecs',
  setup(build) {
    build.onResolve({ filter: /^numcodecs(\/|$)/ }, (args) => ({ path: args.path, namespace: 'hnfnet-unused' }));
    build.onLoad({ filter: /.*/, namespace: 'hnfnet-unused' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`not implemented: ${args.path} (zarr compression) is left out of hnfnet's browser bundles; the segmenter's viewer reads NIfTI only`)});`,
      loader: 'js',
    }));
  },
};

export interface BundleOptions {
  /** Where to write it; without one, the bundle stays in memory. */
  outfile?: string;
  minify?: boolean;
  /**
   * true: an inline source map (for in-memory bundles served by tests and the demo server);
   * 'external': a `.js.map` beside the outfile, with the sources inlined (the published bundles).
   */
  sourcemap?: boolean | 'external';
  /**
   * Split dynamic imports into files of their own under this folder (beside the entry), so that
   * they load only when asked for; without it they are inlined into the one file.
   */
  chunks?: string;
}

export interface Bundle {
  /** The entry's JavaScript. */
  code: string;
  /** Every JavaScript file written, by path relative to the entry's folder (the entry's own name included). */
  files: Map<string, string>;
  /** Source files in the bundle, relative to the repository root. */
  inputs: string[];
}

/** Bundles one entry as an ES module for browsers. */
export async function bundleForBrowser(entry: string, opts: BundleOptions = {}): Promise<Bundle> {
  const outdir = opts.outfile ? path.dirname(opts.outfile) : path.join(ROOT, 'dist/.mem');
  const name = path.basename(opts.outfile ?? entry).replace(/\.[cm]?[jt]s$/, '');
  const result = await esbuild.build({
    entryPoints: [{ in: entry, out: name }],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Resolving package.json "browser" fields and conditions keeps fflate and friends on their browser builds.
    conditions: ['browser'],
    write: false,
    metafile: true,
    minify: opts.minify ?? false,
    sourcemap: opts.sourcemap === 'external' ? 'external' : opts.sourcemap ? 'inline' : false,
    logLevel: 'silent',
    absWorkingDir: ROOT,
    plugins: [nodeFreePlugin, unusedCodecsPlugin],
    outdir,
    ...(opts.chunks ? { splitting: true, chunkNames: `${opts.chunks}/[name]-[hash]` } : {}),
  });
  const files = new Map<string, string>();
  for (const f of result.outputFiles) if (f.path.endsWith('.js')) files.set(path.relative(outdir, f.path).split(path.sep).join('/'), f.text);
  const code = files.get(`${name}.js`);
  if (code === undefined) throw new Error(`esbuild produced no JavaScript for ${entry}`);
  if (opts.outfile) {
    if (opts.chunks) await rm(path.join(outdir, opts.chunks), { recursive: true, force: true });
    // Atomic, so that a build cut off midway leaves no half bundle for the tests to load.
    for (const f of result.outputFiles) {
      await mkdir(path.dirname(f.path), { recursive: true });
      await writeOutputFile(f.path, f.contents);
    }
  }
  return { code, files, inputs: Object.keys(result.metafile.inputs) };
}

/** The library bundle (dist/hnfnet.browser.js, gitignored; built by `npm run build:browser` and by the tests). */
export async function buildLibrary(outfile = LIBRARY_OUTFILE): Promise<Bundle> {
  return bundleForBrowser(LIBRARY_ENTRY, { outfile });
}

/** Pretty message for an esbuild failure (its errors carry the plugin's text). */
export function describeBuildError(e: unknown): string {
  const errors = (e as { errors?: esbuild.Message[] }).errors;
  if (!errors?.length) return e instanceof Error ? e.message : String(e);
  return errors.map((m) => (m.location ? `${m.location.file}:${m.location.line}: ${m.text}` : m.text)).join('\n');
}

/** The two published bundles, each with its source map; returns one line per bundle for the log. */
export async function buildBrowserBundles(): Promise<string[]> {
  const lines: string[] = [];
  for (const [entry, outfile] of [
    [LIBRARY_ENTRY, LIBRARY_OUTFILE],
    [SEGMENTER_ENTRY, SEGMENTER_OUTFILE],
  ] as const) {
    const t0 = performance.now();
    const segmenter = outfile === SEGMENTER_OUTFILE;
    const b = await bundleForBrowser(entry, { outfile, minify: segmenter, sourcemap: 'external', ...(segmenter ? { chunks: SEGMENTER_CHUNKS } : {}) });
    const parts = [...b.files.values()].reduce((n, text) => n + text.length, 0) - b.code.length;
    const split = b.files.size > 1 ? ` (+ ${(parts / 1024).toFixed(0)} KiB in ${b.files.size - 1} parts under dist/${SEGMENTER_CHUNKS}/: NiiVue's, imported when the viewer opens)` : '';
    lines.push(`${path.relative(ROOT, outfile)}: ${(b.code.length / 1024).toFixed(0)} KiB${split} from ${b.inputs.length} files in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    for (const line of await buildBrowserBundles()) console.log(line);
  } catch (e) {
    console.error(describeBuildError(e));
    process.exit(1);
  }
}
