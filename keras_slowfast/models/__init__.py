"""SlowFast models: the network class, presets, factories and complexity counts."""

from keras_slowfast.models.complexity import count_flops, count_params
from keras_slowfast.models.detector import (
    DetectionBinaryCrossentropy,
    SlowFastDetector,
    SlowFastR50Detection,
)
from keras_slowfast.models.factories import (
    FastOnly,
    SlowFast,
    SlowFastR50,
    SlowFastR101,
    SlowOnly,
    from_preset,
)
from keras_slowfast.models.presets import preset_names
from keras_slowfast.models.slowfast import SlowFastNet

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
    "count_flops",
    "count_params",
    "from_preset",
    "preset_names",
]
