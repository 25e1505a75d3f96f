"""PyTorch twin of hnfnet's models (src/hnfnet): same configurations, same parameter names,
same safetensors weights files, so either side loads what the other writes; the same inference
recipe (infer.py) and a data-parallel trainer (train.py)."""
from .config import PRESET_NAMES, preset_config, validate_config, size_multiple
from .model import build_model, HNFNet, UNet3d
from .safetensors_io import load_file, save_file
from .weights import CONFIG_KEY, PRESET_KEY, save_weights, load_weights, weights_metadata
from .loss import segmentation_loss, generalized_dice_loss

__all__ = [
    'PRESET_NAMES', 'preset_config', 'validate_config', 'size_multiple',
    'build_model', 'HNFNet', 'UNet3d', 'load_file', 'save_file',
    'CONFIG_KEY', 'PRESET_KEY', 'save_weights', 'load_weights', 'weights_metadata',
    'segmentation_loss', 'generalized_dice_loss', 'load_case', 'segment_case', 'sliding_window',
]

_INFER = ('load_case', 'segment_case', 'sliding_window')


def __getattr__(name):
    # Imported on first use, so that `python -m hnfnet_torch.infer` does not find its own
    # module already loaded by the package (runpy warns about that).
    if name in _INFER:
        from . import infer
        return getattr(infer, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
