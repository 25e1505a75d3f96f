/**
 * The package as a user gets it, for test/package: the repository's files copied to a staging
 * folder (so that building there cannot race the other tests, which write dist/ in the
 * checkout), `npm pack` there (its `prepack` builds), and the tarball installed with npm into
 * a fresh consumer project.
 *
 * Offline: the consumer's package.json names each of the package's dependencies as a `file:`
 * link to the checkout's node_modules, and npm, which finds them installed, neither fetches nor
 * copies them (`--offline` makes sure). `@types/node` is linked too, as a Node project has it;
 * tsx and the rest of the dev tools are not, so nothing but plain node runs the code.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../scripts/build-browser.js';

const exec = promisify(execFile);

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws on a non-zero exit (the caller asserts on it, with stderr in the message). */
export async function run(cmd: string, args: string[], opts: { cwd: string; timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<Run> {
  try {
    const r = await exec(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 300_000, maxBuffer: 1 << 26, env: opts.env ?? process.env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: `${err.stderr ?? ''}\n${err.message}` };
  }
}

/** What `npm pack --json` reports about the tarball. */
export interface PackReport {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

export interface Packed {
  /** The staging copy of the repository, where the build ran. */
  repo: string;
  tarball: string;
  report: PackReport;
  /** The built package's manifest. */
  manifest: PackageManifest;
}

export interface PackageManifest {
  name: string;
  version: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  exports?: unknown;
  dependencies?: Record<string, string>;
}

/** Copies the checkout (tracked and new files, not ignored ones) and packs it there. */
export async function packRepository(work: string): Promise<Packed> {
  const ls = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT });
  if (ls.code !== 0) throw new Error(`git ls-files failed in ${ROOT}: ${ls.stderr}`);
  const repo = path.join(work, 'repo');
  for (const f of ls.stdout.split('\0')) {
    if (!f || f === 'node_modules' || f.startsWith('node_modules/')) continue;
    const from = path.join(ROOT, f);
    const to = path.join(repo, f);
    mkdirSync(path.dirname(to), { recursive: true });
    // A file deleted but not yet staged is listed and missing: skip it, as a commit would.
    try {
      cpSync(from, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  symlinkSync(realpathSync(path.join(ROOT, 'node_modules')), path.join(repo, 'node_modules'), 'dir');
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: repo, timeoutMs: 600_000 });
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  // The JSON report follows whatever the prepack build printed.
  const report = (JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[/m))) as PackReport[])[0]!;
  return { repo, tarball: path.join(work, report.filename), report, manifest: JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as PackageManifest };
}

/** A fresh ES-module project with the tarball installed by npm; returns its folder. */
export async function installConsumer(work: string, packed: Packed): Promise<string> {
  const dir = path.join(work, 'consumer');
  mkdirSync(dir, { recursive: true });
  const modules = realpathSync(path.join(ROOT, 'node_modules'));
  const linked = [...Object.keys(packed.manifest.dependencies ?? {}), '@types/node'];
  const dependencies: Record<string, string> = { [packed.manifest.name]: `file:${packed.tarball}` };
  for (const dep of linked) dependencies[dep] = `file:${path.join(modules, dep)}`;
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2));
  const r = await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`npm install of ${path.basename(packed.tarball)} failed:\n${r.stdout}\n${r.stderr}`);
  return dir;
}

export function tempWork(): string {
  return mkdtempSync(path.join(tmpdir(), 'hnfnet-package-'));
}

/** The README's "library in ten lines" example, verbatim. */
export function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /## The library in ten lines\s+```js\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md: no ```js block under "## The library in ten lines"');
  return m[1]!;
}

/** Every file path an `exports` map can resolve to, with the conditions that lead there. */
export function exportTargets(exports: unknown, trail: string[] = []): { conditions: string[]; target: string }[] {
  if (typeof exports === 'string') return [{ conditions: trail, target: exports }];
  if (exports === null || typeof exports !== 'object') return [];
  return Object.entries(exports as Record<string, unknown>).flatMap(([k, v]) => exportTargets(v, [...trail, k]));
}
