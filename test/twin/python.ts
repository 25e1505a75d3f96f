/**
 * Running the PyTorch twin from the tests: Debian's system Python (where apt's python3-torch
 * lives, whatever python3 comes first on PATH), a reason to skip when torch is missing, and
 * processes run concurrently with the TS side.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { phantomFiles } from '../../src/data/index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PYTHON = '/usr/bin/python3';
/** The twin's package folder: the cwd of `python -m hnfnet_torch.…`. */
export const PYTHON_PKG = path.join(ROOT, 'python');

/** Why the twin cannot run here, or null; `gloo` also asks for torch.distributed's CPU backend. */
export function torchMissing(opts: { gloo?: boolean } = {}): string | null {
  const probe = opts.gloo ? 'import torch, torch.distributed as d; assert d.is_available() and d.is_gloo_available()' : 'import torch';
  const r = spawnSync(PYTHON, ['-c', probe], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is not runnable (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} cannot import torch${opts.gloo ? ' with gloo' : ''} (as root: apt-get install --no-install-recommends python3-torch)`;
  return null;
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to the end without blocking the event loop (so TS work can overlap it). */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { OMP_NUM_THREADS: '1', ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `python -m hnfnet_torch.<module> …` from python/. */
export function runTwin(module: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return run(PYTHON, ['-m', `hnfnet_torch.${module}`, ...args], { cwd: PYTHON_PKG, env });
}

const tsx = createRequire(import.meta.url).resolve('tsx/cli');
/** `hnfnet …` (src/cli/main.ts) in a child process, as a user runs it. */
export function runHnfnet(args: readonly string[]): Promise<Finished> {
  return run(process.execPath, [tsx, path.join(ROOT, 'src/cli/main.ts'), ...args]);
}

/** Phantom BraTS cases as `<parent>/phantom-<seed>/` folders of NIfTI files; returns the folders. */
export function writePhantoms(parent: string, seeds: readonly number[], size: number): string[] {
  return seeds.map((seed) => {
    const dir = path.join(parent, `phantom-${seed}`);
    mkdirSync(dir, { recursive: true });
    for (const f of phantomFiles({ size, seed })) writeFileSync(path.join(dir, f.name), f.bytes);
    return dir;
  });
}

/** A TCP port nobody listens on now (the OS picks it), for torch.distributed's rendezvous. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
