/**
 * `npm run bench:bundle [-- --out DIR] [--with-node] [--no-xz]`: the bench as a folder that runs
 * on a Linux x64 GPU machine without npm or network (README, "Benchmarking on a GPU machine"):
 *
 *   bench.mjs                      bench/bundle-entry.ts and everything it imports, one ES module
 *   dist/linux-x64/dawn.node.xz    Dawn's binding from npm `webgpu` (run.sh unpacks it beside)
 *   bench/peers/*.py, python/      the PyTorch peers and the twin they import
 *   lib/                           the Vulkan loader (and libglvnd's dispatcher) of this machine, for
 *                                  a GPU machine that has none
 *   node.xz                        with --with-node: this node binary (else the machine's is used,
 *                                  or any Linux x64 node >= 20 dropped in as `node` or `node.xz`)
 *   run.sh, README.txt             bench/bundle/, the launcher and how to use it
 *
 * Default DIR: out/bench-gpu. The folder is written from scratch.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { ROOT, describeBuildError } from './build-browser.js';

export const DEFAULT_OUT = path.join(ROOT, 'out/bench-gpu');
const ENTRY = path.join(ROOT, 'bench/bundle-entry.ts');
/** Where system libraries of this machine are looked for (Debian/Ubuntu multiarch, then plain). */
const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib'];
/** The Vulkan loader, and libglvnd's dispatcher, which NVIDIA's Vulkan driver (libGLX_nvidia) links to. */
const LIBS = ['libvulkan.so.1', 'libGLdispatch.so.0'];

export interface BundleOptions {
  out?: string;
  /** Add this process's node binary as node.xz (about 25 MB more). */
  withNode?: boolean;
  /** Copy dawn.node (and node) uncompressed: faster to build, 4× larger. */
  noXz?: boolean;
  /** xz's preset, 0-9 (default 6; the test uses 0, which is quick). */
  xzLevel?: number;
}

function dawnBinding(): string {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('webgpu/package.json'));
  const file = path.join(pkg, 'dist', 'linux-x64', 'dawn.node');
  if (!existsSync(file)) throw new Error(`bench:bundle: ${file} is missing; is npm "webgpu" installed with its linux-x64 binding?`);
  return file;
}

function xzTo(src: string, dst: string, level: number): void {
  const r = spawnSync('xz', [`-${level}`, '-T1', '-c', src], { maxBuffer: 1 << 30 });
  if (r.error || r.status !== 0) throw new Error(`bench:bundle: xz failed on ${src} (${r.error?.message ?? r.stderr.toString().trim()}); install xz-utils or pass --no-xz`);
  writeFileSync(dst, r.stdout);
}

function findLib(name: string): string | null {
  for (const d of LIB_DIRS) {
    const f = path.join(d, name);
    if (existsSync(f)) return realpathSync(f);
  }
  return null;
}

function folderBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    n += e.isDirectory() ? folderBytes(f) : statSync(f).size;
  }
  return n;
}

/** Writes the bundle; returns lines for the log. */
export async function bundleBench(opts: BundleOptions = {}): Promise<string[]> {
  const out = path.resolve(opts.out ?? DEFAULT_OUT);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const log: string[] = [];

  await esbuild.build({
    entryPoints: [ENTRY],
    outfile: path.join(out, 'bench.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dependencies written as CommonJS call require(), which an ES module lacks.
    banner: { js: "import { createRequire as __hnfnetRequire } from 'node:module'; const require = __hnfnetRequire(import.meta.url);" },
    define: { 'process.env.HNFNET_BENCH_BUNDLE': '"1"' },
    // Only the peers that bundle-entry.ts leaves out import these.
    external: ['@tensorflow/*', 'onnxruntime-node'],
    logLevel: 'silent',
  });
  log.push(`bench.mjs: ${(statSync(path.join(out, 'bench.mjs')).size / 2 ** 20).toFixed(2)} MiB`);

  // npm webgpu's index.js (bundled) loads dist/<platform>-<arch>/dawn.node beside the script.
  const dawnDir = path.join(out, 'dist', 'linux-x64');
  mkdirSync(dawnDir, { recursive: true });
  if (opts.noXz) copyFileSync(dawnBinding(), path.join(dawnDir, 'dawn.node'));
  else xzTo(dawnBinding(), path.join(dawnDir, 'dawn.node.xz'), opts.xzLevel ?? 6);

  const peers = path.join(out, 'bench', 'peers');
  mkdirSync(peers, { recursive: true });
  for (const f of readdirSync(path.join(ROOT, 'bench/peers')).filter((f) => f.endsWith('.py'))) copyFileSync(path.join(ROOT, 'bench/peers', f), path.join(peers, f));
  cpSync(path.join(ROOT, 'python/hnfnet_torch'), path.join(out, 'python/hnfnet_torch'), {
    recursive: true,
    filter: (src) => !src.includes('__pycache__') && (statSync(src).isDirectory() || src.endsWith('.py')),
  });

  const lib = path.join(out, 'lib');
  mkdirSync(lib);
  for (const name of LIBS) {
    const f = findLib(name);
    if (f) copyFileSync(f, path.join(lib, name));
    else log.push(`note: no ${name} on this machine; the bundle relies on the GPU machine's`);
  }

  if (opts.withNode) {
    if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`bench:bundle --with-node: this node is ${process.platform}-${process.arch}, the bundle is for linux-x64`);
    if (opts.noXz) copyFileSync(process.execPath, path.join(out, 'node'));
    else xzTo(process.execPath, path.join(out, 'node.xz'), opts.xzLevel ?? 6);
  }

  for (const f of ['run.sh', 'README.txt']) copyFileSync(path.join(ROOT, 'bench/bundle', f), path.join(out, f));
  chmodSync(path.join(out, 'run.sh'), 0o755);
  log.push(`${path.relative(process.cwd(), out) || '.'}: ${(folderBytes(out) / 2 ** 20).toFixed(1)} MiB in all${opts.withNode ? ' (node included)' : ''}`);
  return log;
}

function parseArgs(argv: string[]): BundleOptions {
  const opts: BundleOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') {
      const v = argv[++i];
      if (!v) throw new Error('bench:bundle: --out needs a folder');
      opts.out = v;
    } else if (a === '--with-node') opts.withNode = true;
    else if (a === '--no-xz') opts.noXz = true;
    else throw new Error(`bench:bundle: unknown option ${a} (expected --out DIR, --with-node, --no-xz)`);
  }
  return opts;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    for (const line of await bundleBench(parseArgs(process.argv.slice(2)))) console.log(line);
  } catch (e) {
    console.error(describeBuildError(e));
    process.exit(1);
  }
}
