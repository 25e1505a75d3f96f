/**
 * The bench's Python peers (PyTorch): where their scripts are, which Python runs them, and a
 * long-lived process spoken to one line at a time, so that start-up and building stay out of
 * the timings.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** bench/peers/ in the repository; in the GPU bundle (one script at its root), its bench/peers/. */
export const PEERS_DIR = existsSync(join(HERE, 'torch_twin.py')) ? HERE : join(HERE, 'bench', 'peers');

let found: string | undefined;

export type TorchDevice = 'cpu' | 'cuda' | 'none';

/** The bench's --torch-device: where the PyTorch peers run (default cpu; none leaves them out). */
export function torchDeviceArg(): TorchDevice {
  const i = process.argv.indexOf('--torch-device');
  const d = i >= 0 ? process.argv[i + 1] : 'cpu';
  if (d !== 'cpu' && d !== 'cuda' && d !== 'none') throw new Error(`bench: --torch-device must be cpu, cuda or none, got ${d}`);
  return d;
}

/**
 * The first of HNFNET_PYTHON, /usr/bin/python3 (Debian's, with python3-torch) and `python3` on
 * the PATH (a GPU machine's, with CUDA's torch) that imports torch.
 */
export function torchPython(): string {
  if (found) return found;
  const tried = [process.env.HNFNET_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  for (const py of tried) {
    const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (!probe.error && probe.status === 0) return (found = py);
  }
  throw new Error(`no Python with torch (tried ${tried.join(', ')}; set HNFNET_PYTHON, or apt-get install --no-install-recommends python3-torch)`);
}

export interface PythonPeer {
  /** The first line the script printed (its banner). */
  banner: string;
  /** Sends one line and resolves with the next line of the answer. */
  request(line: string): Promise<string>;
  close(): void;
}

/** Starts `script` (in PEERS_DIR) with `args`; resolves once it printed its banner. */
export async function startPeer(script: string, args: readonly string[]): Promise<PythonPeer> {
  const p: ChildProcessWithoutNullStreams = spawn(torchPython(), [join(PEERS_DIR, script), ...args]);
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let exited: Error | null = null;
  p.on('exit', (code) => {
    exited = new Error(`${script} exited (${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  const lines = createInterface({ input: p.stdout });
  lines.on('line', (l) => waiting.shift()?.resolve(l));
  const next = (): Promise<string> => new Promise((resolve, reject) => (exited ? reject(exited) : waiting.push({ resolve, reject })));
  const banner = await next();
  return {
    banner,
    request(line) {
      const answer = next();
      p.stdin.write(`${line}\n`);
      return answer;
    },
    close() {
      p.stdin.end();
      lines.close();
    },
  };
}
