"""The trainer's checkpoint pair, crash-safe as src/train/checkpoint-files.node.ts writes its own:
RUN/last.safetensors (an hnfnet weights file) and RUN/last.train.pt (optimizer and run state,
PyTorch's format), both carrying the run id and step so that a torn pair is detected.

The training state is read with torch.load(weights_only=True), so that a run folder from someone
else cannot run code when resumed. torch 1.13's weights-only unpickler reads tensors, ints,
strings, lists and dicts but no floats, so the state is stored as JSON (floats round-trip exactly
through repr) beside a list of its tensors."""
import json
import os
import sys

import torch

from .safetensors_io import encode, load_file

LAST, LAST_TRAIN, BEST = 'last.safetensors', 'last.train.pt', 'best.safetensors'
STATE_FORMAT = 'hnfnet_torch-train-2'


class CheckpointError(RuntimeError):
    pass


def _to_plain(v, tensors):
    """A state tree as JSON data, its tensors set aside in `tensors` (tuples and non-string keys tagged)."""
    if isinstance(v, torch.Tensor):
        tensors.append(v.detach().cpu())
        return {'__tensor__': len(tensors) - 1}
    if isinstance(v, tuple):
        return {'__tuple__': [_to_plain(x, tensors) for x in v]}
    if isinstance(v, dict):
        return {'__items__': [[_to_plain(k, tensors), _to_plain(x, tensors)] for k, x in v.items()]}
    if isinstance(v, list):
        return [_to_plain(x, tensors) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f'training state: cannot store a {type(v).__name__} ({v!r})')


def _from_plain(v, tensors):
    if isinstance(v, list):
        return [_from_plain(x, tensors) for x in v]
    if isinstance(v, dict):
        if '__tensor__' in v:
            return tensors[v['__tensor__']]
        if '__tuple__' in v:
            return tuple(_from_plain(x, tensors) for x in v['__tuple__'])
        return {_from_plain(k, tensors): _from_plain(x, tensors) for k, x in v['__items__']}
    return v


def encode_state(state, f):
    tensors = []
    text = json.dumps(_to_plain(state, tensors))
    torch.save({'format': STATE_FORMAT, 'state': text, 'tensors': tensors}, f)


def _write_temp(path, write):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _sync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_weights(path, model, metadata):
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    os.replace(_write_temp(path, lambda f: f.write(encode(sd, metadata))), path)
    _sync_dir(os.path.dirname(os.path.abspath(path)))


def write_last(out, model, w_meta, state):
    """Both temp files complete before either rename (as checkpoint-files.ts), so a kill leaves
    the previous pair whole or, between the renames, the new state complete in its temp file."""
    tw = _write_temp(os.path.join(out, LAST), lambda f: f.write(encode({k: v.detach().float().cpu() for k, v in model.state_dict().items()}, w_meta)))
    tt = _write_temp(os.path.join(out, LAST_TRAIN), lambda f: encode_state(state, f))
    os.replace(tw, os.path.join(out, LAST))
    os.replace(tt, os.path.join(out, LAST_TRAIN))
    _sync_dir(out)


def _read_weights(path):
    try:
        return load_file(path)
    except Exception as e:
        raise CheckpointError(f'{path} is not a complete weights file ({e})') from e


def _read_state(path):
    try:
        # weights_only: a run folder may come from someone else, and a full unpickle runs whatever
        # the file holds. What write_last saves is plain tensors, numbers, strings, lists and dicts.
        raw = torch.load(path, map_location='cpu', weights_only=True)
        s = _from_plain(json.loads(raw['state']), raw['tensors']) if isinstance(raw, dict) and raw.get('format') == STATE_FORMAT else raw
    except Exception as e:
        raise CheckpointError(f'{path} is not a complete training state, or holds more than tensors and numbers ({type(e).__name__}: {e})') from e
    if not isinstance(s, dict) or s.get('format') != STATE_FORMAT:
        raise CheckpointError(f'{path} is not a training state of hnfnet_torch.train')
    return s


def _same_checkpoint(metadata, state):
    return metadata.get('hnfnet_run') == state['run'] and metadata.get('hnfnet_step') == str(state['step'])


def read_last(out):
    """(weights, state) of RUN's last checkpoint; a missing, truncated or mismatched half is an error."""
    wp, tp = os.path.join(out, LAST), os.path.join(out, LAST_TRAIN)
    for p in (wp, tp):
        if not os.path.exists(p):
            raise CheckpointError(f'--resume: {p} is missing, so {out} holds no checkpoint pair to resume from')
    tensors, meta = _read_weights(wp)
    state = _read_state(tp)
    if _same_checkpoint(meta, state):
        return tensors, state
    # Killed between write_last's renames: the matching state is complete in its temp file.
    # Rank 0 renames it into place; another rank may find it there already.
    for path in (tp + '.tmp', tp):
        try:
            newer = _read_state(path)
        except CheckpointError:
            continue
        if _same_checkpoint(meta, newer):
            if path != tp and os.environ.get('RANK', '0') == '0':
                os.replace(path, tp)
                print(f'checkpoint: completed a torn pair from {path}', file=sys.stderr)
            return tensors, newer
    raise CheckpointError(
        f'--resume: {wp} (run {meta.get("hnfnet_run")}, step {meta.get("hnfnet_step")}) and {tp} '
        f'(run {state["run"]}, step {state["step"]}) are not from the same checkpoint')
