/**
 * The PyTorch twin on the CPU as a peer of hnfnet's model rows: a long-lived Python process
 * (bench/peers/torch_twin.py) that runs one iteration per request, so process start-up and
 * model building stay out of the timings. Needs Debian's python3-torch; without it the row
 * says so.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BenchRun } from '../types.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_twin.py');

export interface TwinRun extends BenchRun {
  /** What the Python side said when ready (torch version, threads). */
  banner: string;
}

/** Starts the twin with `preset` on [1, 4, side³] in `mode`; resolves once it is ready. */
export async function startTwin(preset: string, side: number, mode: 'forward' | 'train'): Promise<TwinRun> {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(`${PYTHON} cannot import torch (apt-get install --no-install-recommends python3-torch)`);
  const p: ChildProcessWithoutNullStreams = spawn(PYTHON, [SCRIPT, preset, String(side), mode]);
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let exited: Error | null = null;
  p.on('exit', (code) => {
    exited = new Error(`the PyTorch twin exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  const lines = createInterface({ input: p.stdout });
  lines.on('line', (l) => waiting.shift()?.resolve(l));
  const next = (): Promise<string> => new Promise((resolve, reject) => (exited ? reject(exited) : waiting.push({ resolve, reject })));
  const banner = await next();
  return {
    banner,
    async run() {
      p.stdin.write('run\n');
      const answer = await next();
      if (answer !== 'ok') throw new Error(`the PyTorch twin answered "${answer}"`);
    },
    dispose() {
      p.stdin.end();
      lines.close();
    },
  };
}
