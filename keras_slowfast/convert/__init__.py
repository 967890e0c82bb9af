"""Load PyTorchVideo and PySlowFast checkpoints into keras_slowfast models.

torch is an optional dependency (``pip install keras_slowfast[torch]``); it is
imported only when a checkpoint file is read, so importing this package does
not import torch.
"""

from keras_slowfast.convert.common import (
    extract_state_dict,
    load_checkpoint,
    torch_to_keras,
)
from keras_slowfast.convert.converter import (
    SOURCES,
    checkpoint_settings,
    convert_checkpoint,
    detect_source,
    infer_config,
    load_state_dict,
    map_state_dict,
)

__all__ = [
    "SOURCES",
    "checkpoint_settings",
    "convert_checkpoint",
    "detect_source",
    "extract_state_dict",
    "infer_config",
    "load_checkpoint",
    "load_state_dict",
    "map_state_dict",
    "torch_to_keras",
]
