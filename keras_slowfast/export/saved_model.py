"""Export a SlowFast model as a versioned SavedModel for TensorFlow Serving.

The export writes ``path/<version>/`` (TF Serving watches ``path`` and serves
the highest version) with these signatures:

* ``serving_default``: raw uint8 RGB frames ``video`` ``(batch, num_frames,
  height, width, 3)`` of any height and width. The graph resizes the short
  side, center-crops and normalizes (the model's ``VideoPreprocessor``), runs
  the model and returns ``probabilities``, ``top_k_ids``, ``top_k_scores`` and,
  with a label map, ``top_k_names``.
* ``normalized``: the same outputs for a float32 ``video`` that is already
  preprocessed (``(x / 255 - mean) / std``, cropped).

A detection model (a Keras model with two inputs, ``(video, boxes)``) gets the
same two signatures with an extra ``boxes`` input ``(batch, num_boxes, 4)``,
``[x1, y1, x2, y2]`` normalized to [0, 1] of the raw frame (padding rows of
-1 pass through); its outputs are per box. The batch dimension is dynamic everywhere.
"""

import json
import os
import re

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.export.runtime import SAVED_MODEL_METADATA
from keras_slowfast.labels import load_label_map
from keras_slowfast.models.precision import with_dtype
from keras_slowfast.models.preprocessor import VideoPreprocessor, preprocessor_of
from keras_slowfast.models.task import (
    input_settings,
    is_detection_model,
    model_class_names,
    score_activation,
)

PRECISIONS = ("float32", "float16", "bfloat16")
BOX_FORMATS = ("normalized", "pixels")
SIGNATURES = ("serving_default", "normalized")


def _input_frames(model):
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 5:
        raise ValueError(
            f"the model's video input must be (batch, frames, height, width, 3), "
            f"got {shape}"
        )
    return shape[1]


def _cast_model(model, precision):
    """A copy of ``model`` whose layers compute (and store weights) in ``precision``."""
    if precision == "float32":
        return model
    return with_dtype(model, precision)


def _next_version(path):
    versions = (
        [int(name) for name in os.listdir(path) if re.fullmatch(r"\d+", name)]
        if os.path.isdir(path)
        else []
    )
    return max(versions, default=0) + 1


class _Endpoints:
    """Builds the signature functions around one (possibly cast) model."""

    def __init__(
        self,
        model,
        *,
        preprocessor,
        activation,
        top_k,
        labels,
        box_format,
        num_frames=None,
        image_size=(None, None),
        label_outputs=True,
    ):
        self.model = model
        self.preprocessor = preprocessor
        self.activation = activation
        self.top_k = top_k
        self.labels = labels
        self.box_format = box_format
        self.num_frames = num_frames
        self.image_size = image_size
        self.label_outputs = label_outputs

    def outputs(self, normalized_video, boxes=None):
        x = tf.cast(normalized_video, self.model.compute_dtype)
        inputs = x if boxes is None else [x, tf.cast(boxes, self.model.compute_dtype)]
        scores = tf.cast(self.model(inputs, training=False), tf.float32)
        if self.activation == "softmax":
            scores = tf.nn.softmax(scores, axis=-1)
        elif self.activation == "sigmoid":
            scores = tf.sigmoid(scores)
        top_scores, top_ids = tf.math.top_k(scores, k=self.top_k)
        result = {
            "probabilities": scores,
            "top_k_ids": top_ids,
            "top_k_scores": top_scores,
        }
        if self.labels is not None and self.label_outputs:
            result["top_k_names"] = tf.gather(tf.constant(self.labels), top_ids)
        return result

    def model_boxes(self, video, boxes):
        """Maps raw-frame normalized boxes onto the preprocessed frames."""
        shape = tf.shape(video)
        height, width = self.preprocessor.resized_shape(shape[2], shape[3])
        top, left = self.preprocessor.crop_offsets(height, width)
        crop_size = self.preprocessor.crop_size
        out_h, out_w = (crop_size, crop_size) if crop_size else (height, width)
        scale = tf.cast(tf.stack([width, height, width, height]), tf.float32)
        shift = tf.cast(tf.stack([left, top, left, top]), tf.float32)
        boxes = tf.cast(boxes, tf.float32)
        mapped = boxes * scale - shift
        if self.box_format == "normalized":
            mapped /= tf.cast(tf.stack([out_w, out_h, out_w, out_h]), tf.float32)
        # Padding rows (all coordinates negative, e.g. -1) stay as they are so
        # the model can still recognize them.
        padding = tf.reduce_all(boxes < 0, axis=-1, keepdims=True)
        return tf.where(padding, boxes, mapped)

    def raw(self, video):
        return self.outputs(self.preprocessor(video))

    def raw_with_boxes(self, video, boxes):
        return self.outputs(self.preprocessor(video), self.model_boxes(video, boxes))

    def normalized(self, video):
        return self.outputs(video)

    def normalized_with_boxes(self, video, boxes):
        return self.outputs(video, boxes)

    @property
    def detection(self):
        return is_detection_model(self.model)

    def input_specs(self, signature):
        """The ``tf.TensorSpec`` list a signature takes (dynamic batch)."""
        if signature == "serving_default":
            shape = [None, self.num_frames, None, None, 3]
            video = tf.TensorSpec(shape, tf.uint8, name="video")
        else:
            crop_size = self.preprocessor.crop_size
            height, width = (crop_size, crop_size) if crop_size else self.image_size
            shape = [None, self.num_frames, height, width, 3]
            video = tf.TensorSpec(shape, tf.float32, name="video")
        if not self.detection:
            return [video]
        return [video, tf.TensorSpec([None, None, 4], tf.float32, name="boxes")]

    def signature(self, signature):
        """``(function, input_specs)`` of one of ``SIGNATURES``."""
        if signature not in SIGNATURES:
            raise ValueError(f"signature={signature!r} must be one of {SIGNATURES}")
        if signature == "serving_default":
            function = self.raw_with_boxes if self.detection else self.raw
        else:
            function = self.normalized_with_boxes if self.detection else self.normalized
        return function, self.input_specs(signature)

    def metadata(self, signature):
        """What a runtime needs to feed a file exported from ``signature``.

        Returns:
            dict of JSON-ready values: ``signature``, ``task``
            (``"classifier"`` or ``"detector"``), ``num_frames``,
            ``short_side``, ``crop_size`` and ``box_format`` (as exported),
            ``image_size`` (the ``normalized`` clips' height and width),
            ``input_convention``, ``output_activation`` (applied in the
            graph), ``num_classes``, ``top_k``, ``labels`` (None or the
            class names) and ``sampling_rate`` (the model's, or None).
        """
        return {
            "signature": signature,
            "task": "detector" if self.detection else "classifier",
            "num_frames": self.num_frames,
            "short_side": self.preprocessor.short_side,
            "crop_size": self.preprocessor.crop_size,
            "image_size": list(self.input_specs("normalized")[0].shape[2:4]),
            "input_convention": self.preprocessor.input_convention,
            "output_activation": self.activation,
            "num_classes": int(self.model.outputs[0].shape[-1]),
            "top_k": self.top_k,
            "box_format": self.box_format,
            "labels": self.labels,
            "sampling_rate": getattr(
                preprocessor_of(self.model), "sampling_rate", None
            ),
        }


def build_endpoints(
    model,
    *,
    short_side=None,
    crop_size=None,
    labels=None,
    top_k=5,
    output_activation="auto",
    box_format="pixels",
    label_outputs=True,
):
    """Checks the export arguments and builds the signature functions.

    Shared by the SavedModel, ONNX and TFLite exports, so every format runs
    the same preprocessing (the model's ``VideoPreprocessor`` with the
    export's ``short_side`` and ``crop_size``), box mapping and output
    activation. The arguments are ``export_saved_model``'s;
    ``label_outputs=False`` keeps the class names out of the graph (no
    ``top_k_names`` string output; ONNX and TFLite files carry them in their
    metadata instead).

    Raises:
        ValueError: an argument does not fit the model.
    """
    if box_format not in BOX_FORMATS:
        raise ValueError(f"box_format={box_format!r} must be one of {BOX_FORMATS}")
    _, short_side, crop_size = input_settings(model, None, short_side, crop_size)
    preprocessor = VideoPreprocessor.from_convention(
        preprocessor_of(model).input_convention,
        short_side=short_side,
        crop_size=crop_size,
    )
    crop_size = preprocessor.crop_size
    top_k = int(top_k)
    if top_k < 1:
        raise ValueError(f"top_k={top_k} must be >= 1")
    if len(model.inputs) not in (1, 2):
        raise ValueError(
            f"the model has {len(model.inputs)} inputs; expected a video "
            "classifier (video) or a detector (video, boxes)"
        )
    num_frames = _input_frames(model)
    image_size = tuple(model.inputs[0].shape[2:4])
    if None not in image_size and crop_size is not None:
        if image_size != (crop_size, crop_size):
            raise ValueError(
                f"crop_size={crop_size} does not match the model's fixed input "
                f"size {image_size}"
            )
    num_classes = model.outputs[0].shape[-1]
    if num_classes is None:
        raise ValueError("the model's output has no static number of classes")
    if isinstance(labels, (str, os.PathLike)):
        labels = load_label_map(labels)
    if labels is None:
        labels = model_class_names(model)
    if labels is not None:
        labels = [str(name) for name in labels]
        if len(labels) != num_classes:
            raise ValueError(
                f"the label map has {len(labels)} names, the model "
                f"{num_classes} classes"
            )
    return _Endpoints(
        model,
        preprocessor=preprocessor,
        activation=score_activation(
            model, output_activation, argument="output_activation"
        ),
        top_k=min(top_k, int(num_classes)),
        labels=labels,
        box_format=box_format,
        num_frames=num_frames,
        image_size=image_size,
        label_outputs=label_outputs,
    )


def export_saved_model(
    model,
    path,
    *,
    version=None,
    short_side=None,
    crop_size=None,
    labels=None,
    top_k=5,
    precision="float32",
    output_activation="auto",
    box_format="pixels",
    overwrite=False,
    verbose=False,
):
    """Writes ``model`` as a TF Serving SavedModel under ``path/<version>/``.

    Args:
        model: a Keras model taking one clip ``(batch, num_frames, H, W, 3)``
            (e.g. ``SlowFastVideoClassifier``), or a detection model taking
            ``(video, boxes)``. Its preprocessor (``model.preprocessor``, else
            one built from ``model.input_convention``; default: the
            PyTorchVideo Kinetics mean/std, RGB) sets the normalization.
        path: str. Model base directory, as given to TF Serving
            (``--model_base_path``).
        version: int or None. Version sub-directory; None picks one more than
            the highest existing version (1 for a new directory).
        short_side: int or None. The raw signature resizes the frames' short
            side to this length; None: the model's own (its preprocessor's,
            as trained or published), else 256.
        crop_size: int or None. Side of the center crop after resizing; None:
            the model's own, else its fixed input size, else 224 for a
            classifier and no crop for a detector (which sees the whole
            frame); 0: no crop. Must not exceed ``short_side``.
        labels: list of class names, a label map file (see
            ``load_label_map``), or None (the model's ``class_names``). Adds
            the ``top_k_names`` output.
        top_k: int. Number of classes in ``top_k_ids`` / ``top_k_scores``
            (capped at the number of classes).
        precision: ``"float32"``, ``"float16"`` or ``"bfloat16"``. Weights and
            compute dtype of the exported graph; inputs and outputs keep their
            documented dtypes.
        output_activation: ``"auto"``, ``"softmax"``, ``"sigmoid"`` or
            ``"none"``. Turns model outputs into ``probabilities``; ``"auto"``
            applies softmax to a classifier's logits, sigmoid to a detector's,
            and nothing when the model's ``activation`` is already set.
        box_format: ``"pixels"`` or ``"normalized"``. What a detection model
            expects: pixel coordinates on the preprocessed frames (as
            ``SlowFastDetector``), or boxes normalized to them. Requests always
            send boxes normalized to the raw frame; the graph maps them
            through the resize and crop. Padding rows (all coordinates
            negative, e.g. -1) pass through unchanged.
        overwrite: bool. Replace an existing ``path/<version>``.
        verbose: bool. Print the signatures (Keras ``ExportArchive`` output).

    Returns:
        str, the version directory written.

    Raises:
        ValueError: an argument is invalid or the version directory exists.

    Examples:
    >>> model = keras_slowfast.SlowFastR50(num_classes=400)
    >>> export_saved_model(model, "/models/slowfast", labels="kinetics.json")
    '/models/slowfast/1'
    """
    if keras.config.backend() != "tensorflow":
        raise ValueError(
            "SavedModel export needs the TensorFlow backend, got "
            f"KERAS_BACKEND={keras.config.backend()!r}"
        )
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {PRECISIONS}")
    endpoints = build_endpoints(
        model,
        short_side=short_side,
        crop_size=crop_size,
        labels=labels,
        top_k=top_k,
        output_activation=output_activation,
        box_format=box_format,
    )

    path = os.fspath(path)
    if version is None:
        version = _next_version(path)
    version = int(version)
    if version < 0:
        raise ValueError(f"version={version} must be >= 0")
    target = os.path.join(path, str(version))
    if os.path.exists(target):
        if not overwrite:
            raise ValueError(
                f"{target} already exists; pass overwrite=True (--overwrite) or "
                "another version"
            )
        import shutil

        shutil.rmtree(target)

    endpoints.model = _cast_model(model, precision)
    archive = keras.export.ExportArchive()
    archive.track(endpoints.model)
    for signature in SIGNATURES:
        archive.add_endpoint(signature, *endpoints.signature(signature))
    os.makedirs(path, exist_ok=True)
    archive.write_out(target, verbose=verbose)
    # What ExportedModel (predict --runtime tf) reads: names and settings. TF
    # Serving leaves assets.extra/ alone.
    extra = os.path.join(target, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, SAVED_MODEL_METADATA), "w", encoding="utf-8") as file:
        json.dump(endpoints.metadata("serving_default"), file, indent=1)
    return target


def reference_outputs(model, video, **kwargs):
    """What the ``serving_default`` signature returns, computed eagerly in Keras.

    Runs the same preprocessing and post-processing as the export, without
    writing anything; useful to check a served model against the original.
    ``kwargs`` are ``export_saved_model``'s ``short_side``, ``crop_size``,
    ``top_k``, ``labels``, ``output_activation`` and ``box_format``, and
    ``boxes`` for a detection model.

    Returns:
        dict of numpy arrays keyed like the signature outputs.
    """
    kwargs = dict(kwargs)
    boxes = kwargs.pop("boxes", None)
    endpoints = build_endpoints(model, **kwargs)
    if boxes is None:
        result = endpoints.raw(tf.convert_to_tensor(video, tf.uint8))
    else:
        result = endpoints.raw_with_boxes(
            tf.convert_to_tensor(video, tf.uint8), tf.convert_to_tensor(boxes)
        )
    return {key: np.asarray(value) for key, value in result.items()}
