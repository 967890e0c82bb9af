"""SlowFast models: the backbone, the task models, presets, factories, loading."""

from keras_slowfast.models.backbone import SlowFastBackbone
from keras_slowfast.models.classifier import SlowFastVideoClassifier
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
from keras_slowfast.models.loading import load_model
from keras_slowfast.models.preprocessor import VideoPreprocessor
from keras_slowfast.models.presets import preset_names
from keras_slowfast.models.zoo import zoo_names

__all__ = [
    "DetectionBinaryCrossentropy",
    "FastOnly",
    "SlowFast",
    "SlowFastBackbone",
    "SlowFastDetector",
    "SlowFastR50",
    "SlowFastR50Detection",
    "SlowFastR101",
    "SlowFastVideoClassifier",
    "SlowOnly",
    "VideoPreprocessor",
    "count_flops",
    "count_params",
    "from_preset",
    "load_model",
    "preset_names",
    "zoo_names",
]
