"""Self-describing weights files, as src/hnfnet/weights.ts writes them: the safetensors
metadata holds the model configuration (`hnfnet_config`, JSON) and the preset name
(`hnfnet_preset`), so `hnfnet infer` and this package rebuild the model from the file alone."""
import json

import torch

from .config import parse_config, preset_config
from .model import build_model
from .safetensors_io import load_file, save_file

CONFIG_KEY = 'hnfnet_config'
PRESET_KEY = 'hnfnet_preset'


def weights_metadata(config, preset=None):
    md = {CONFIG_KEY: json.dumps(config, separators=(',', ':'))}
    if preset:
        md[PRESET_KEY] = preset
    md['format'] = 'pt'
    return md


def save_weights(model, path, config=None, preset=None):
    # float32, as the TS loader requires F32 for every entry.
    sd = {k: v.detach().to(torch.float32) for k, v in model.state_dict().items()}
    save_file(path, sd, weights_metadata(config if config is not None else model.config, preset))


def weights_config(metadata, source, fallback_preset=None):
    preset = metadata.get(PRESET_KEY)
    if metadata.get(CONFIG_KEY):
        return parse_config(json.loads(metadata[CONFIG_KEY])), preset
    if preset:
        return preset_config(preset), preset
    if fallback_preset:
        return preset_config(fallback_preset), fallback_preset
    raise ValueError(f'{source} does not say which model it holds (no "{CONFIG_KEY}" or "{PRESET_KEY}" metadata)')


def load_weights(path, fallback_preset=None, dtype=torch.float32):
    """Builds the model a weights file describes, loads it strictly, returns (model in eval mode, config, preset)."""
    tensors, metadata = load_file(path)
    config, preset = weights_config(metadata, str(path), fallback_preset)
    model = build_model(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise ValueError(f'{path}: the weights do not fit the {preset or config["kind"]} model its metadata describes: {e}') from e
    return model.to(dtype).eval(), config, preset
