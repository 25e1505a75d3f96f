"""Loads TS-written weights files into the twin (strict: every name and shape must match)
and writes each back with the twin's own writer as <file>.twin.safetensors, for the TS side
to load in turn. Prints {file: {"tensors": n, "preset": p}} as JSON.

    /usr/bin/python3 python/tests/check_load.py FILE..."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from hnfnet_torch import load_weights, save_weights  # noqa: E402


def main():
    out = {}
    for f in sys.argv[1:]:
        model, config, preset = load_weights(f)
        save_weights(model, f + '.twin.safetensors', config, preset)
        out[f] = {'tensors': len(model.state_dict()), 'preset': preset}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
