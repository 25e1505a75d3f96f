"""PyTorch (cuDNN on a GPU) as the bench's peer for the conv3d workloads of
bench/conv3d-workloads.ts: one long-lived process that times what it is asked, with its own
clock, so that neither the pipe nor the host's launch latency lands in the figures.

    python3 bench/peers/torch_conv3d.py --device cpu|cuda [--threads N]

stdin, one JSON object a line:
    {"kind": "fwd"|"bwd", "cin": 32, "cout": 32, "edge": 64, "stride": 1, "tf32": false, "reps": 7}
stdout: a banner line {"ready": true, "torch": ..., "device": ..., "cudnn": ...}, then one line
per request: {"times": [ms, ...], "clock": "cuda-events"|"wall", "tf32": ...} or {"error": "..."}.

"fwd" is y = conv3d(x, w, b) (3x3x3, padding 1); "bwd" is dX and dW given dY (no bias gradient),
what hnfnet's bwd rows run. On CUDA each timed run is bracketed by CUDA events and cuDNN picks
its algorithm by measuring (torch.backends.cudnn.benchmark); warm-up runs come first. "tf32"
sets cuDNN's (and cuBLAS's) TF32 for fp32 data; on the CPU it does not apply and must be false.
Written for the torch of Debian bookworm (1.13) and today's (2.x), whose TF32 switches differ.
"""
import argparse
import json
import statistics
import sys
import time
import warnings

import torch

K, PAD = 3, 1
WARMUP = 3


def set_tf32(on):
    """Sets TF32 for fp32 convolutions and matrix products; returns what torch reports back."""
    conv = getattr(torch.backends.cudnn, 'conv', None)
    if conv is not None and hasattr(conv, 'fp32_precision'):
        # torch >= 2.9: the precision API (the allow_tf32 flags are deprecated there).
        mode = 'tf32' if on else 'ieee'
        conv.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
        return conv.fp32_precision == mode
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on
    return torch.backends.cudnn.allow_tf32 == on


class Workload:
    def __init__(self, req, device):
        self.kind = req['kind']
        if self.kind not in ('fwd', 'bwd'):
            raise ValueError(f'kind must be "fwd" or "bwd", got {self.kind!r}')
        cin, cout, edge, self.stride = int(req['cin']), int(req['cout']), int(req['edge']), int(req['stride'])
        g = torch.Generator().manual_seed(13)
        # Uniform in [-1, 1) and a weight scale that keeps sums of cin*27 products near unit
        # size, as the TS side's values(); the values themselves do not change the work.
        def uniform(*shape, scale=1.0):
            return ((torch.rand(*shape, generator=g) * 2 - 1) * scale).to(device)
        self.x = uniform(1, cin, edge, edge, edge)
        self.w = uniform(cout, cin, K, K, K, scale=(cin * K ** 3) ** -0.5)
        self.b = uniform(cout, scale=0.1)
        out = (edge + 2 * PAD - K) // self.stride + 1
        self.dy = uniform(1, cout, out, out, out)

    def run(self):
        if self.kind == 'fwd':
            with torch.no_grad():
                return torch.nn.functional.conv3d(self.x, self.w, self.b, stride=self.stride, padding=PAD)
        s, p = [self.stride] * 3, [PAD] * 3
        # The input and weight gradients in one call, as autograd's backward of conv3d makes them.
        dx, dw, _ = torch.ops.aten.convolution_backward(
            self.dy, self.x, self.w, None, s, p, [1, 1, 1], False, [0, 0, 0], 1, [True, True, False])
        return dx, dw


def time_runs(work, reps, cuda):
    for _ in range(WARMUP):
        work.run()
    times = []
    if cuda:
        torch.cuda.synchronize()
        for _ in range(reps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            work.run()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    else:
        for _ in range(reps):
            t0 = time.perf_counter()
            work.run()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    ap.add_argument('--threads', type=int, default=0, help='CPU threads (torch default if 0)')
    args = ap.parse_args()
    warnings.simplefilter('ignore')
    cuda = args.device == 'cuda'
    if cuda and not torch.cuda.is_available():
        print(json.dumps({'error': f'torch {torch.__version__} sees no CUDA device'}), flush=True)
        return 1
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if cuda:
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(0)
        cudnn = torch.backends.cudnn.version()
    else:
        name = f'cpu, {torch.get_num_threads()} threads'
        cudnn = None
    device = torch.device(args.device)
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'device': name, 'cudnn': cudnn}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            tf32 = bool(req.get('tf32', False))
            if tf32 and not cuda:
                raise ValueError('TF32 is a CUDA setting; the CPU computes fp32')
            applied = set_tf32(tf32) if cuda else False
            work = Workload(req, device)
            times = time_runs(work, int(req.get('reps', 7)), cuda)
            del work
            answer = {'times': times, 'median': statistics.median(times), 'clock': 'cuda-events' if cuda else 'wall', 'tf32': applied}
        except Exception as e:  # noqa: BLE001 - every failure goes back to the bench as its row's error
            answer = {'error': f'{type(e).__name__}: {e}'.split('\n')[0]}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
