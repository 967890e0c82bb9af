"""Export for deployment: TF Serving SavedModel, ONNX and TFLite, each with
the same in-graph preprocessing (the model's ``VideoPreprocessor``), and
``ExportedModel`` to run the files."""

from keras_slowfast.export.onnx import export_onnx
from keras_slowfast.export.runtime import ExportedModel
from keras_slowfast.export.saved_model import export_saved_model, reference_outputs
from keras_slowfast.export.tflite import export_tflite
from keras_slowfast.labels import load_label_map

__all__ = [
    "ExportedModel",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "load_label_map",
    "reference_outputs",
]
