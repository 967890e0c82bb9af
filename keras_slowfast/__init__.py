"""keras_slowfast: SlowFast video networks for Keras 3 and TensorFlow.

The model code (``layers``, ``models``) uses ``keras.ops`` only and runs on any
Keras backend; data loading, training, evaluation and export use TensorFlow.
"""

from keras_slowfast.convert import convert_checkpoint
from keras_slowfast.models import (
    DetectionBinaryCrossentropy,
    FastOnly,
    SlowFast,
    SlowFastBackbone,
    SlowFastDetector,
    SlowFastR50,
    SlowFastR50Detection,
    SlowFastR101,
    SlowFastVideoClassifier,
    SlowOnly,
    VideoPreprocessor,
    count_flops,
    count_params,
    from_preset,
    load_model,
    preset_names,
    zoo_names,
)

__version__ = "0.1.0"

# TensorFlow-only helpers, imported on first use so ``import keras_slowfast``
# stays backend-neutral: name -> defining module.
_LAZY = {
    "ExportedModel": "keras_slowfast.export.runtime",
    "detect_video": "keras_slowfast.inference.detect",
    "export_onnx": "keras_slowfast.export.onnx",
    "export_saved_model": "keras_slowfast.export.saved_model",
    "export_tflite": "keras_slowfast.export.tflite",
    "predict_video": "keras_slowfast.inference.classify",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_slowfast' has no attribute {name!r}")


__all__ = [
    "DetectionBinaryCrossentropy",
    "ExportedModel",
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
    "convert_checkpoint",
    "count_flops",
    "count_params",
    "detect_video",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "from_preset",
    "load_model",
    "predict_video",
    "preset_names",
    "zoo_names",
]
