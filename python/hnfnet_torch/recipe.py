"""`--config FILE`: a training config file of `hnfnet train` (src/hnfnet/train-config.ts, the
same JSON) read into the twin's options, so that one file is the recipe for both trainers
(e.g. configs/brats18-web.json). What the twin cannot honour is refused, naming the key,
rather than silently trained differently."""
import json
import os

from .data import DEFAULT_AUGMENT

# config path → option of train.py
_MAP = {
    ('model',): 'model', ('seed',): 'seed', ('pretrained',): 'pretrained', ('epochs',): 'epochs', ('stepsPerEpoch',): 'steps_per_epoch',
    ('batch',): 'batch', ('accumulate',): 'accumulate', ('activationCheckpointing',): 'activation_checkpointing', ('patch',): 'patch',
    ('data', 'source'): 'data', ('data', 'foregroundProb'): 'foreground_prob',
    ('optimizer', 'lr'): 'lr', ('optimizer', 'weightDecay'): 'weight_decay',
    ('schedule', 'warmupEpochs'): 'warmup_epochs', ('schedule', 'power'): 'power',
    ('folds', 'count'): 'folds', ('folds', 'fold'): 'fold', ('folds', 'splitFile'): 'split_file',
    ('validation', 'every'): 'val_every', ('validation', 'window'): 'val_window', ('validation', 'overlap'): 'val_overlap',
    ('validation', 'tta'): 'val_tta', ('validation', 'threshold'): 'val_threshold', ('validation', 'maxCases'): 'val_max_cases',
}
# Keys the twin runs only at the TS defaults (it has no other implementation of them); None:
# settings that do not apply to it (phantoms; it checkpoints every epoch).
_FIXED = {
    ('optimizer', 'betas'): [0.9, 0.999], ('optimizer', 'eps'): 1e-8, ('schedule', 'perStep'): True,
    ('data', 'phantomSize'): None, ('data', 'preprocess'): {}, ('checkpoint', 'every'): None, ('folds', 'seed'): None,
}
# Objects that a file may give in part: the rest comes from the TS defaults.
_PARTIAL = {
    ('loss',): {'diceWeight': 1, 'bceWeight': 1, 'diceWType': 'square', 'smooth': 1e-5},
    ('data', 'augment'): DEFAULT_AUGMENT,
}
_WHOLE = set(_MAP) | set(_FIXED) | set(_PARTIAL)


def _leaves(obj, path=()):
    if path in _WHOLE or not isinstance(obj, dict):
        yield path, obj
        return
    for k, v in obj.items():
        yield from _leaves(v, path + (k,))


def _merged(base, over):
    if not isinstance(over, dict) or not isinstance(base, dict):
        return over
    return {**base, **{k: _merged(base.get(k), v) for k, v in over.items()}}


def read_recipe(path):
    """The file's settings as train.py options (a dict with only the keys the file sets)."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        raise ValueError(f'--config {path}: cannot read it ({e.strerror})') from e
    except json.JSONDecodeError as e:
        raise ValueError(f'--config {path}: not valid JSON ({e})') from e
    if not isinstance(cfg, dict):
        raise ValueError(f'--config {path}: expected a JSON object')
    out = {}
    for key, v in _leaves(cfg):
        name = '.'.join(key)
        if key in _MAP:
            opt = _MAP[key]
            if opt == 'data':
                if isinstance(v, str) and v.startswith('phantom:'):
                    raise ValueError(f'--config {path}: {name} "{v}": the twin trains on BraTS folders only (give --data)')
                if isinstance(v, str) and not os.path.isabs(v):
                    v = os.path.join(os.path.dirname(os.path.abspath(path)), v)
            if opt in ('split_file', 'pretrained') and isinstance(v, str) and not os.path.isabs(v):
                # Relative to the config file, as `hnfnet train` resolves it.
                v = os.path.join(os.path.dirname(os.path.abspath(path)), v)
            if opt in ('patch', 'val_window') and isinstance(v, (int, float)):
                v = [int(v)] * 3
            if opt == 'model' and isinstance(v, dict):
                v = json.dumps(v)
            out[opt] = v
        elif key == ('data', 'augment') and v is None:
            out['no_augment'] = True
        elif key in _PARTIAL:
            if _merged(_PARTIAL[key], v) != _PARTIAL[key]:
                raise ValueError(f'--config {path}: {name} = {json.dumps(v)}: the twin runs only the default {json.dumps(_PARTIAL[key])}')
        elif key in _FIXED:
            want = _FIXED[key]
            if want is not None and v != want:
                raise ValueError(f'--config {path}: {name} = {json.dumps(v)} is not supported by the twin (only {json.dumps(want)})')
        else:
            raise ValueError(f'--config {path}: unknown key "{name}"')
    return out
