"""Model configurations as plain dicts in the TS `ModelConfig` JSON form (camelCase keys), so
the `hnfnet_config` metadata of a weights file rebuilds the same model on either side.
Mirrors src/hnfnet/config.ts; keep the two in step."""
import copy
import json

PRESET_NAMES = ('unet3d', 'hnfnet', 'hnfnet-intra', 'hnfnetv2', 'hnfnetv2-web', 'tiny')

_NORM = {'kind': 'instance', 'affine': True, 'eps': 1e-5}

_HNFNET = {
    'kind': 'hnfnet', 'inChannels': 4, 'outChannels': 3, 'stemChannels': 32,
    'encoderConvs': 1, 'decoderConvs': 2, 'widths': [32, 64, 128, 256], 'blocks': [1, 2, 2, 2],
    'intraSde': False, 'sdeReduction': 1, 'interSde': False, 'emaBases': 64, 'emaStages': 3,
    'emaMomentum': 0.9, 'emaRenormalize': True, 'inputStride': 1, 'norm': _NORM,
}

_PRESETS = {
    'unet3d': {'kind': 'unet3d', 'inChannels': 4, 'outChannels': 3, 'widths': [48, 96, 192, 464], 'convsPerLevel': 2, 'norm': _NORM},
    'hnfnet': _HNFNET,
    'hnfnet-intra': {**_HNFNET, 'intraSde': True},
    'hnfnetv2': {**_HNFNET, 'intraSde': True, 'interSde': True},
    # Browser- and CPU-sized HNF-Netv2 (docs/ARCHITECTURE.md): a quarter of the widths, one block
    # per branch, and the network run at half resolution inside (2 mm), logits brought back.
    'hnfnetv2-web': {**_HNFNET, 'intraSde': True, 'interSde': True, 'stemChannels': 8, 'widths': [8, 16, 32, 64],
                     'blocks': [1, 1, 1, 1], 'emaBases': 16, 'inputStride': 2},
    'tiny': {**_HNFNET, 'stemChannels': 4, 'widths': [4, 8, 16, 32], 'blocks': [1, 1, 1, 1], 'emaBases': 8, 'intraSde': True, 'interSde': True},
}


class ConfigError(ValueError):
    pass


def preset_config(name, **overrides):
    if name not in _PRESETS:
        raise ConfigError(f'unknown model preset "{name}" (known: {", ".join(PRESET_NAMES)})')
    cfg = {**copy.deepcopy(_PRESETS[name]), **overrides}
    validate_config(cfg)
    return cfg


def parse_config(spec):
    """A preset name, a JSON string or a dict → a validated config dict (a copy)."""
    if isinstance(spec, str):
        cfg = preset_config(spec) if spec in _PRESETS else json.loads(spec)
    else:
        cfg = copy.deepcopy(dict(spec))
    validate_config(cfg)
    return cfg


def _pos_int(v, what):
    if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        raise ConfigError(f'model config: {what} must be a positive integer, got {v!r}')


def validate_config(cfg):
    _pos_int(cfg['inChannels'], 'inChannels')
    _pos_int(cfg['outChannels'], 'outChannels')
    if cfg['norm']['kind'] != 'instance':
        raise ConfigError(f'model config: norm.kind "{cfg["norm"]["kind"]}" is not supported (only "instance")')
    if not cfg['norm']['eps'] > 0:
        raise ConfigError('model config: norm.eps must be positive')
    if len(cfg['widths']) < 1:
        raise ConfigError('model config: widths must not be empty')
    for i, w in enumerate(cfg['widths']):
        _pos_int(w, f'widths[{i}]')
    if cfg['kind'] == 'unet3d':
        _pos_int(cfg['convsPerLevel'], 'convsPerLevel')
        return
    if cfg['kind'] != 'hnfnet':
        raise ConfigError(f'model config: unknown kind {cfg["kind"]!r}')
    _pos_int(cfg['stemChannels'], 'stemChannels')
    _pos_int(cfg['encoderConvs'], 'encoderConvs')
    if not (isinstance(cfg['decoderConvs'], int) and cfg['decoderConvs'] >= 0):
        raise ConfigError('model config: decoderConvs must be a non-negative integer')
    if len(cfg['blocks']) != len(cfg['widths']):
        raise ConfigError('model config: blocks needs one entry per PMF module (as many as widths)')
    for i, b in enumerate(cfg['blocks']):
        _pos_int(b, f'blocks[{i}]')
    if not cfg['sdeReduction'] > 0:
        raise ConfigError('model config: sdeReduction must be positive')
    if cfg['interSde'] and len(cfg['widths']) < 2:
        raise ConfigError('model config: interSde needs at least two PMF modules')
    if cfg.get('inputStride', 1) not in (1, 2):
        raise ConfigError(f'model config: inputStride must be 1 or 2, got {cfg.get("inputStride")!r}')
    _pos_int(cfg['emaBases'], 'emaBases')
    _pos_int(cfg['emaStages'], 'emaStages')
    if not 0 <= cfg['emaMomentum'] <= 1:
        raise ConfigError('model config: emaMomentum must be in [0, 1]')


def size_multiple(cfg):
    n = len(cfg['widths'])
    return 2 ** (n - 1) if cfg['kind'] == 'unet3d' else 2 ** n * cfg.get('inputStride', 1)
