"""Loads TS-written weights files into the twin (strict: every name and shape must match)
and writes each back with the twin's own writer as <file>.twin.safetensors, for the TS side
to load in turn. Prints {"backend": which implementation moved the tensors, "calls": the
stand-in package's call counts or null, "files": {file: {"tensors": n, "preset": p}}} as JSON.

    [PYTHONPATH=python/tests/stand_ins] /usr/bin/python3 python/tests/check_load.py FILE..."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from hnfnet_torch import load_weights, save_weights  # noqa: E402
from hnfnet_torch.safetensors_io import BACKEND  # noqa: E402


def main():
    files = {}
    for f in sys.argv[1:]:
        model, config, preset = load_weights(f)
        save_weights(model, f + '.twin.safetensors', config, preset)
        files[f] = {'tensors': len(model.state_dict()), 'preset': preset}
    calls = getattr(sys.modules.get('safetensors.torch'), 'CALLS', None)
    print(json.dumps({'backend': BACKEND, 'calls': calls, 'files': files}))


if __name__ == '__main__':
    main()
