"""keras_slowfast: SlowFast video networks for Keras 3 and TensorFlow.

The model code (``layers``, ``models``) uses ``keras.ops`` only and runs on any
Keras backend; data loading, training, evaluation and export use TensorFlow.
"""

from keras_slowfast.convert import convert_checkpoint
from keras_slowfast.models import (
    DetectionBinaryCrossentropy,
    FastOnly,
    SlowFast,
    SlowFastDetector,
    SlowFastNet,
    SlowFastR50,
    SlowFastR50Detection,
    SlowFastR101,
    SlowOnly,
    count_flops,
    count_params,
    from_preset,
    preset_names,
)

__version__ = "0.1.0"

__all__ = [
    "DetectionBinaryCrossentropy",
    "FastOnly",
    "SlowFast",
    "SlowFastNet",
    "SlowFastDetector",
    "SlowFastR50",
    "SlowFastR50Detection",
    "SlowFastR101",
    "SlowOnly",
    "convert_checkpoint",
    "count_flops",
    "count_params",
    "from_preset",
    "preset_names",
]
