"""Export a SlowFast classifier or detector to ONNX.

The ONNX file holds one of the SavedModel's signatures (see
``keras_slowfast.export.saved_model``), traced from the same functions, so the
preprocessing, box mapping and output activation are the SavedModel's:

* ``serving_default`` (default): input ``video``, uint8 RGB frames ``(batch,
  num_frames, height, width, 3)`` of any size, resized, center-cropped and
  normalized in the graph by the model's ``VideoPreprocessor``;
* ``normalized``: input ``video``, float32 clips already preprocessed.

A detector also takes ``boxes`` ``(batch, num_boxes, 4)``. Outputs are
``probabilities``, ``top_k_ids`` and ``top_k_scores``; the batch (and number of
boxes) is dynamic. Class names, the opset and everything ``ExportedModel``
needs to feed the file are stored as JSON under the ``keras_slowfast`` key of
the model's ``metadata_props``.

The conversion uses tf2onnx on the traced TensorFlow function (the route
``keras.Model.export(format="onnx")`` takes); ``tf2onnx``, ``onnx`` and
``onnxruntime`` come with ``pip install keras_slowfast[onnx]``.
"""

import json
import logging
import os
import warnings

import tensorflow as tf

from keras_slowfast.export.runtime import METADATA_NAME, import_optional
from keras_slowfast.export.saved_model import build_endpoints
from keras_slowfast.layers.conv_bn import without_winograd

# Opset 17 runs in ONNX Runtime >= 1.11, TensorRT >= 8.6 and OpenVINO >= 2022.3;
# tf2onnx 1.17 writes up to 18. Resize, TopK and the reductions need >= 13.
DEFAULT_OPSET = 17
MIN_OPSET = 13


def _max_opset(tf2onnx):
    return max(tf2onnx.constants.OPSET_TO_IR_VERSION)


def _name_dynamic_axes(graph, detection, raw_frames):
    """Names the dynamic dimensions (tf2onnx leaves them as ``unk__N``)."""
    names = {0: "batch"}
    for value in graph.input:
        axes = dict(names)
        if value.name == "boxes":
            axes[1] = "num_boxes"
        elif raw_frames:
            axes.update({2: "height", 3: "width"})
        for index, name in axes.items():
            value.type.tensor_type.shape.dim[index].dim_param = name
    for value in graph.output:
        axes = {0: "batch", 1: "num_boxes"} if detection else names
        for index, name in axes.items():
            value.type.tensor_type.shape.dim[index].dim_param = name


def export_onnx(
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
    opset=DEFAULT_OPSET,
    overwrite=False,
):
    """Writes ``model`` as an ONNX file with its preprocessing.

    Args:
        model: a Keras video classifier (e.g. ``SlowFastVideoClassifier``) or detector
            (``SlowFastDetector``, two inputs ``video`` and ``boxes``), in
            float32.
        path: str. The ``.onnx`` file to write.
        signature: ``"serving_default"`` (raw uint8 frames in, preprocessing
            in the graph) or ``"normalized"`` (preprocessed float32 clips in).
        short_side, crop_size, labels, top_k, output_activation, box_format:
            as for ``export_saved_model``. Label names go to the metadata
            (ONNX has no string outputs that every runtime supports).
        opset: int. ONNX opset, 13 to 18 (tf2onnx's maximum); recorded in the
            file and in its metadata.
        overwrite: bool. Replace an existing file.

    Returns:
        str, the path written.

    Raises:
        ValueError: an argument is invalid, the file exists, or the model is
            not float32.
        ImportError: tf2onnx or onnx is not installed.

    Examples:
    >>> export_onnx(keras_slowfast.SlowFastR50(), "slowfast.onnx",
    ...             labels="kinetics.json")
    'slowfast.onnx'
    """
    path = os.fspath(path)
    if not path.endswith(".onnx"):
        raise ValueError(f"ONNX export path {path!r} must end with .onnx")
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} already exists; pass overwrite=True (--overwrite)")
    opset = int(opset)
    if model.compute_dtype != "float32":
        raise ValueError(
            f"ONNX export needs a float32 model, got dtype policy "
            f"{model.dtype_policy.name!r}"
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
    function, specs = endpoints.signature(signature)
    tf2onnx = import_optional("tf2onnx", "ONNX export")
    onnx = import_optional("onnx", "ONNX export")
    if not MIN_OPSET <= opset <= _max_opset(tf2onnx):
        raise ValueError(
            f"opset={opset} must be between {MIN_OPSET} and {_max_opset(tf2onnx)}"
        )
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    # ONNX runtimes run their own kernels, for which ConvBN3D's Winograd form
    # (chosen for TensorFlow's) was not measured: the direct form is traced.
    with warnings.catch_warnings(), without_winograd():
        # tf2onnx probes NumPy for attributes NumPy 2 dropped.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        proto, _ = tf2onnx.convert.from_function(
            tf.function(function, input_signature=specs),
            input_signature=specs,
            opset=opset,
        )
    _name_dynamic_axes(proto.graph, endpoints.detection, signature == "serving_default")
    metadata = {**endpoints.metadata(signature), "format": "onnx", "opset": opset}
    onnx.helper.set_model_props(proto, {METADATA_NAME: json.dumps(metadata)})
    proto.producer_name = "keras_slowfast"
    onnx.checker.check_model(proto)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    onnx.save(proto, path)
    return path
