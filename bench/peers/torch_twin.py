"""The PyTorch twin (python/hnfnet_torch) as a bench peer on the CPU: builds one model and one
input, then runs one iteration per line read from stdin and answers "ok" (the TS side times
the round trip; the pipe costs microseconds next to a model step).

    [HNFNET_BENCH_TORCH_THREADS=N] /usr/bin/python3 bench/peers/torch_twin.py PRESET SIDE forward|train [cpu|cuda]

On CUDA each iteration ends with torch.cuda.synchronize(), so the answer comes when the GPU is done."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python'))

import torch  # noqa: E402

from hnfnet_torch import build_model, preset_config, segmentation_loss  # noqa: E402


def main():
    preset, side, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    device = torch.device(sys.argv[4] if len(sys.argv) > 4 else 'cpu')
    # torch's own default (its count of physical cores) unless told: on this 2-vCPU host one
    # thread ran the forward 2.2× faster than two.
    if os.environ.get('HNFNET_BENCH_TORCH_THREADS'):
        torch.set_num_threads(int(os.environ['HNFNET_BENCH_TORCH_THREADS']))
    torch.manual_seed(0)
    model = build_model(preset_config(preset)).to(device)
    x = torch.randn(1, 4, side, side, side).to(device)
    target = (torch.rand(1, 3, side, side, side) < 0.2).float().to(device)
    model.train(mode == 'train')
    where = torch.cuda.get_device_name(device) if device.type == 'cuda' else f'{torch.get_num_threads()} threads'
    print(f'ready torch {torch.__version__}, {where}', flush=True)
    for _ in sys.stdin:
        if mode == 'train':
            # Dice + BCE, as the hnfnet row's step.
            segmentation_loss(model(x), target)[0].backward()
            model.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                model(x)
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        print('ok', flush=True)


if __name__ == '__main__':
    main()
