import type { BenchCase } from '../types.js';
import { startPeer, torchDeviceArg, type PythonPeer, type TorchDevice } from '../peers/python.js';
import { BWD, FWD, bwdName, fwdFlops, fwdName, keep, type Workload } from '../conv3d-workloads.js';

/**
 * PyTorch as the peer of hnfnet's conv3d rows (same names), timed by its own clock in
 * bench/peers/torch_conv3d.py: `--torch-device cuda` gives two rows per workload, cuDNN with
 * TF32 off (fp32, what hnfnet computes) and on; `cpu` (the default) one; `none` leaves them out.
 * One Python process serves every row of a run.
 */

let peer: Promise<PythonPeer> | undefined;

function shared(device: 'cpu' | 'cuda'): Promise<PythonPeer> {
  if (!peer) {
    peer = startPeer('torch_conv3d.py', ['--device', device]).then((p) => {
      const b = JSON.parse(p.banner) as { ready?: boolean; error?: string; torch?: string; device?: string; cudnn?: number | null };
      if (!b.ready) throw new Error(b.error ?? `torch_conv3d.py said ${p.banner}`);
      process.stderr.write(`    PyTorch peer: torch ${b.torch} on ${b.device}${b.cudnn ? `, cuDNN ${b.cudnn}` : ''}\n`);
      return p;
    });
    // A failed start is reported by every row, not retried per row.
    peer.catch(() => undefined);
  }
  return peer;
}

function torchCase(w: Workload, kind: 'fwd' | 'bwd', device: 'cpu' | 'cuda', tf32: boolean): BenchCase {
  const impl = device === 'cpu' ? 'pytorch-cpu' : `pytorch-cuda (cuDNN, TF32 ${tf32 ? 'on' : 'off'})`;
  return {
    name: kind === 'fwd' ? fwdName(w) : bwdName(w),
    impl,
    flops: (kind === 'fwd' ? 1 : 2) * fwdFlops(w),
    timing: 'host',
    async setup() {
      const p = await shared(device);
      return {
        run() {
          throw new Error('the PyTorch peer times itself (measure)');
        },
        async measure(reps) {
          const answer = JSON.parse(await p.request(JSON.stringify({ kind, ...w, tf32, reps }))) as { times?: number[]; clock?: string; error?: string };
          if (!answer.times) throw new Error(answer.error ?? 'torch_conv3d.py gave no times');
          return { times: answer.times, clock: answer.clock ?? 'wall' };
        },
        dispose() {},
      };
    },
  };
}

function casesFor(device: TorchDevice): BenchCase[] {
  if (device === 'none') return [];
  const variants = device === 'cuda' ? [false, true] : [false];
  return [
    ...FWD.filter(keep).flatMap((w) => variants.map((tf32) => torchCase(w, 'fwd', device, tf32))),
    ...BWD.filter(keep).flatMap((w) => variants.map((tf32) => torchCase(w, 'bwd', device, tf32))),
  ];
}

export const cases: BenchCase[] = casesFor(torchDeviceArg());
