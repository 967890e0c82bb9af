"""Load PyTorchVideo and PySlowFast checkpoints into keras_slowfast models.

Checkpoint files (torch zip or legacy, Caffe2 pickles, gzip-compressed) are
read without torch and without running code from them
(``checkpoint_file.read_checkpoint``); torch is needed only to unpickle a
file of your own fully (``trust_checkpoint=True``).
"""

from keras_slowfast.convert.checkpoint_file import (
    UnsafeCheckpointError,
    read_checkpoint,
)
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
    "UnsafeCheckpointError",
    "checkpoint_settings",
    "convert_checkpoint",
    "detect_source",
    "extract_state_dict",
    "infer_config",
    "load_checkpoint",
    "load_state_dict",
    "map_state_dict",
    "read_checkpoint",
    "torch_to_keras",
]
