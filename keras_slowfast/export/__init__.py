"""Export to TensorFlow SavedModel (TF Serving) with in-graph preprocessing."""

from keras_slowfast.export.preprocessing import preprocess_video
from keras_slowfast.export.saved_model import (
    export_saved_model,
    load_label_map,
    reference_outputs,
)

__all__ = [
    "export_saved_model",
    "load_label_map",
    "preprocess_video",
    "reference_outputs",
]
