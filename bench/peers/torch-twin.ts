/**
 * The PyTorch twin as a peer of hnfnet's model rows, on the CPU or CUDA: a long-lived Python
 * process (bench/peers/torch_twin.py) that runs one iteration per request. Needs a Python with
 * torch (bench/peers/python.ts); without it the row says so.
 */
import type { BenchRun } from '../types.js';
import { startPeer } from './python.js';

export interface TwinRun extends BenchRun {
  /** What the Python side said when ready (torch version, threads). */
  banner: string;
}

/** Starts the twin with `preset` on [1, 4, side³] in `mode` on `device`; resolves once it is ready. */
export async function startTwin(preset: string, side: number, mode: 'forward' | 'train', device: 'cpu' | 'cuda' = 'cpu'): Promise<TwinRun> {
  const peer = await startPeer('torch_twin.py', [preset, String(side), mode, device]);
  return {
    banner: peer.banner,
    async run() {
      const answer = await peer.request('run');
      if (answer !== 'ok') throw new Error(`the PyTorch twin answered "${answer}"`);
    },
    dispose() {
      peer.close();
    },
  };
}
