"""Export a SlowFast classifier (or detector) to TFLite / LiteRT.

Like the ONNX export, the ``.tflite`` file holds one SavedModel signature,
``serving_default`` (raw uint8 frames of any size, preprocessing in the graph)
or ``normalized`` (preprocessed float32 clips), with a dynamic batch. The
conversion goes ExportArchive -> SavedModel -> ``TFLiteConverter``, the path
TensorFlow documents for Keras 3 models, so weights are frozen constants.

Precisions: ``float32``; ``float16`` (weights stored as float16, dequantized
at load); ``int8`` (dynamic-range quantization: int8 weights, activations
quantized on the fly; no calibration data needed).

Classifiers convert to TFLite builtin ops only, so they run in LiteRT
(``ai-edge-litert``) on any device without the Flex delegate. The detector
does not: its RoIAlign indexes with new axes on dynamically shaped tensors
and its dilated res5 convolutions become SpaceToBatchND / BatchToSpaceND
over 3 spatial dimensions, which TFLite has no builtin kernels for. Its
export fails with the list of missing ops unless ``allow_flex=True``, which
keeps those ops as Flex (TensorFlow) ops: such a file needs a TFLite runtime
with the Flex delegate linked (on Android, the
``tensorflow-lite-select-tf-ops`` dependency); neither LiteRT's nor
TensorFlow's Python interpreter has it, so ``ExportedModel`` cannot run it.
"""

import json
import os
import re
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.export.runtime import METADATA_NAME, read_tflite_metadata
from keras_slowfast.export.saved_model import build_endpoints
from keras_slowfast.layers.conv_bn import without_winograd

PRECISIONS = ("float32", "float16", "int8")


def _convert(endpoints, signature, precision, allow_flex):
    """TFLite flatbuffer bytes of one signature."""
    function, specs = endpoints.signature(signature)
    # TFLite runs its own kernels, for which ConvBN3D's Winograd form (chosen
    # for TensorFlow's) was not measured, and its interpreter rejects that
    # form's free-batch reshapes ("BytesRequired number of elements
    # overflowed"): the direct form is traced.
    with tempfile.TemporaryDirectory() as directory, without_winograd():
        archive = keras.export.ExportArchive()
        archive.track(endpoints.model)
        archive.add_endpoint(signature, function, specs)
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            directory, signature_keys=[signature]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if allow_flex:
            converter.target_spec.supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        if precision != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as error:  # the converter raises its own ConverterError
            missing = re.search(r"TF Select ops: ([^\n]+)", str(error))
            if allow_flex or missing is None:
                raise
            raise ValueError(
                "the model needs TensorFlow ops that TFLite has no builtin "
                f"kernels for ({missing.group(1)}); pass allow_flex=True "
                "(--allow-flex) to keep them as Flex ops, for a TFLite runtime "
                "with the Flex delegate linked"
            ) from None


def _with_metadata(content, metadata):
    """The flatbuffer with ``metadata`` as JSON under ``METADATA_NAME``."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(content)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(metadata).encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export_tflite(
    model,
    path,
    *,
    signature="serving_default",
    short_side=None,
    crop_size=None,
    labels=None,
    top_k=5,
    output_activation="auto",
    box_format="pixels",
    precision="float32",
    allow_flex=False,
    overwrite=False,
):
    """Writes ``model`` as a ``.tflite`` file with its preprocessing.

    Args:
        model: a float32 Keras video classifier or detector.
        path: str. The ``.tflite`` file to write.
        signature: ``"serving_default"`` (raw uint8 frames in) or
            ``"normalized"`` (preprocessed float32 clips in).
        short_side, crop_size, labels, top_k, output_activation, box_format:
            as for ``export_saved_model``; label names go to the metadata.
        precision: ``"float32"``, ``"float16"`` (float16 weights) or
            ``"int8"`` (dynamic-range quantization).
        allow_flex: bool. Keep ops without a TFLite builtin as Flex
            (TensorFlow) ops instead of failing; needed by the detector.
        overwrite: bool. Replace an existing file.

    Returns:
        str, the path written.

    Raises:
        ValueError: an argument is invalid, the file exists, or the model
            needs non-builtin ops and ``allow_flex`` is False.
    """
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(f"TFLite export path {path!r} must end with .tflite")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} already exists; pass overwrite=True (--overwrite)")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {PRECISIONS}")
    if model.compute_dtype != "float32":
        raise ValueError(
            f"TFLite export needs a float32 model (precision sets the file's "
            f"weights), got dtype policy {model.dtype_policy.name!r}"
        )
    endpoints = build_endpoints(
        model,
        short_side=short_side,
        crop_size=crop_size,
        labels=labels,
        top_k=top_k,
        output_activation=output_activation,
        box_format=box_format,
        label_outputs=False,
    )
    content = _convert(endpoints, signature, precision, bool(allow_flex))
    _, uses_flex = read_tflite_metadata(content)
    metadata = {
        **endpoints.metadata(signature),
        "format": "tflite",
        "precision": precision,
        "uses_flex": uses_flex,
    }
    content = _with_metadata(content, metadata)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as file:
        file.write(content)
    return path
