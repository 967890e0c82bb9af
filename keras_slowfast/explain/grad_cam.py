"""Grad-CAM class activation maps for both SlowFast pathways.

Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
via Gradient-based Localization", ICCV 2017) weighs a layer's feature maps by
the mean gradient of a class score over each channel and keeps the positive
part: ``relu(sum_c mean(dS/dA_c) * A_c)``. For a SlowFast network the natural
layers are the last stage of each pathway (``slow_res5``, ``fast_res5``), whose
maps feed the head directly; the result is one map per pathway, upsampled in
time and space to the input clip, so a Slow map and a Fast map can be laid over
the frames the model saw (as PySlowFast's ``visualization/gradcam_utils.py``
does for its pathways).

The gradient is the one backend-specific step (TensorFlow's ``GradientTape``
or torch autograd); weighting, upsampling and normalisation are ``keras.ops``.
"""

import dataclasses
import weakref

import keras
import numpy as np
from keras import ops

from keras_slowfast.layers.heads import box_mask
from keras_slowfast.layers.pack_pathways import slow_frame_indices

PATHWAYS = ("slow", "fast")
SUPPORTED_BACKENDS = ("tensorflow", "torch")
WEIGHTINGS = ("mean", "elementwise")
# model -> {layers: _Explainer}, so repeated calls (a video's windows) reuse
# one traced gradient function instead of tracing per call.
_EXPLAINERS = weakref.WeakKeyDictionary()


@dataclasses.dataclass
class GradCAM:
    """Class activation maps of a batch of clips.

    Attributes:
        maps: dict pathway name -> float32 array in [0, 1], ``(batch, frames,
            height, width)`` for a classifier, ``(batch, boxes, frames,
            height, width)`` for a detector: one map per input frame and pixel
            (min-max normalised per clip, or per box).
        class_index: int array ``(batch,)`` (classifier) or ``(batch, boxes)``
            (detector): the class each map explains (-1 for padding boxes).
        scores: float32 array: the model's outputs for the batch.
        layers: dict pathway name -> the layer name the map was taken at.
    """

    maps: dict
    class_index: np.ndarray
    scores: np.ndarray
    layers: dict


def _backbone(model):
    """The task's backbone; a ValueError for anything but a task model."""
    backbone = getattr(model, "backbone", None)
    if backbone is None or getattr(model, "head", None) is None:
        raise ValueError(
            "grad_cam explains a SlowFastVideoClassifier or SlowFastDetector "
            f"(a backbone with a head), got {type(model).__name__}"
        )
    return backbone


def default_layers(model):
    """The last stage of each pathway the model has: ``{"slow": "slow_res5", ...}``.

    Raises:
        ValueError: the model has no ``slow_res5`` or ``fast_res5`` layer.
    """
    names = {layer.name for layer in _backbone(model).layers}
    found = {p: f"{p}_res5" for p in PATHWAYS if f"{p}_res5" in names}
    if not found:
        raise ValueError(
            f"model {model.name!r} has no slow_res5 or fast_res5 layer; pass "
            "layers={'slow': NAME, 'fast': NAME} with the layers to explain"
        )
    return found


def _check_layers(model, layers):
    if layers is None:
        return default_layers(model)
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, dict):
        keys = [name.split("_", 1)[0] for name in layers]
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"layers={list(layers)}: one layer per pathway in a list; pass a "
                "dict such as {'slow4': 'slow_res4', 'slow5': 'slow_res5'} for more"
            )
        layers = dict(zip(keys, layers, strict=True))
    names = [layer.name for layer in _backbone(model).layers]
    for key, name in layers.items():
        if name not in names:
            raise ValueError(
                f"layers[{key!r}]={name!r}: the backbone of {model.name!r} has no "
                f"such layer (its layers: {', '.join(names)})"
            )
    return dict(layers)


def _is_detector(model):
    return len(model.inputs) == 2


def _check_clip(model, clip, boxes):
    clip = np.asarray(clip, dtype="float32")
    if clip.ndim == 4:
        clip = clip[None]
    expected = tuple(model.inputs[0].shape[1:])
    if clip.ndim != 5 or any(
        e is not None and e != g for e, g in zip(expected, clip.shape[1:], strict=True)
    ):
        raise ValueError(
            f"clip must be (batch, {', '.join(str(e) for e in expected)}) "
            f"normalized frames, got shape {clip.shape}"
        )
    if _is_detector(model):
        if boxes is None:
            raise ValueError("a detection model needs boxes (batch, boxes, 4)")
        boxes = np.asarray(boxes, dtype="float32")
        if boxes.ndim == 2:
            boxes = boxes[None]
        if boxes.ndim != 3 or boxes.shape[0] != clip.shape[0] or boxes.shape[-1] != 4:
            raise ValueError(
                f"boxes must be ({clip.shape[0]}, boxes, 4) as x1, y1, x2, y2, "
                f"got shape {boxes.shape}"
            )
        if boxes.shape[1] == 0:
            raise ValueError("boxes has no rows: give at least one box per clip")
    elif boxes is not None:
        raise ValueError("boxes are for detection models; this is a classifier")
    return clip, boxes


def _requested_classes(model, class_index, batch, num_boxes):
    """The class asked for per output, -1 where the top class is wanted."""
    shape = (batch,) if num_boxes is None else (batch, num_boxes)
    if class_index is None:
        return np.full(shape, -1, "int32")
    num_classes = int(model.outputs[0].shape[-1])
    try:
        requested = np.broadcast_to(np.asarray(class_index, "int64"), shape)
    except ValueError:
        raise ValueError(
            f"class_index has shape {np.shape(class_index)}; expected an int or "
            f"shape {shape}"
        ) from None
    if requested.min() < 0 or requested.max() >= num_classes:
        raise ValueError(
            f"class_index={class_index!r} must be in [0, {num_classes}) "
            f"for a model with {num_classes} classes"
        )
    return requested.astype("int32")


def _selectors(scores, requested, num_targets):
    """One-hot masks shaped like ``scores``, one per gradient target.

    ``requested`` holds a class per output, -1 for the top-scoring one. A
    classifier has one target for the whole batch (clips are independent at
    inference); a detector's boxes share the clip's features, so each box
    (``num_targets`` of them) is its own target.
    """
    top = ops.cast(ops.argmax(scores, axis=-1), requested.dtype)
    chosen = ops.where(requested < 0, top, requested)
    one_hot = ops.one_hot(chosen, scores.shape[-1], dtype=scores.dtype)
    if num_targets == 1:
        return chosen, [one_hot]
    boxes = ops.one_hot(ops.arange(num_targets), num_targets, dtype=scores.dtype)
    return chosen, [one_hot * boxes[j][None, :, None] for j in range(num_targets)]


class _Explainer:
    """A model that also returns the chosen layers' outputs, and their gradients."""

    def __init__(self, model, layers):
        backend = keras.config.backend()
        if backend not in SUPPORTED_BACKENDS:
            raise ValueError(
                f"grad_cam needs gradients with respect to intermediate maps, "
                f"which the {backend!r} backend does not expose; use "
                f"KERAS_BACKEND={' or '.join(SUPPORTED_BACKENDS)}"
            )
        self.keys = list(layers)
        # The backbone again, also returning the chosen layers' maps, then the
        # task's own head on its final maps: scores depend on those maps.
        backbone = _backbone(model)
        chosen = [backbone.get_layer(layers[k]).output for k in self.keys]
        inner = keras.Model(backbone.inputs, [*chosen, *backbone.outputs])
        outputs = inner(model.inputs[0])
        maps, finals = outputs[: len(chosen)], outputs[len(chosen) :]
        scores = model.head([*finals, *model.inputs[1:]])
        self.probe = keras.Model(model.inputs, [*maps, scores])
        self._step = self._torch_step
        if backend == "tensorflow":
            import tensorflow as tf

            self._step = tf.function(self._tf_step, reduce_retracing=True)

    def _tf_step(self, inputs, requested, num_targets):
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            *features, scores = self.probe(inputs, training=False)
            chosen, selectors = _selectors(scores, requested, num_targets)
            targets = [ops.sum(scores * s) for s in selectors]
        grads = [tape.gradient(t, features) for t in targets]
        del tape
        return features, grads, scores, chosen

    def _torch_step(self, inputs, requested, num_targets):
        import torch

        # The clip requires a gradient so the graph reaches the maps even
        # when every weight is frozen.
        if isinstance(inputs, list):
            inputs = [torch.as_tensor(inputs[0]).requires_grad_(True), inputs[1]]
        else:
            inputs = torch.as_tensor(inputs).requires_grad_(True)
        *features, scores = self.probe(inputs, training=False)
        chosen, selectors = _selectors(scores, requested, num_targets)
        grads = [
            torch.autograd.grad(
                ops.sum(scores * s), features, retain_graph=j + 1 < num_targets
            )
            for j, s in enumerate(selectors)
        ]
        return [f.detach() for f in features], grads, scores.detach(), chosen

    def __call__(self, inputs, requested, num_targets):
        """``(features, gradients per target, scores, chosen classes)``."""
        requested = ops.convert_to_tensor(requested, dtype="int32")
        return self._step(inputs, requested, num_targets)


def _time_weights(num_map_frames, num_frames, alpha):
    """``(num_frames, num_map_frames)`` linear interpolation from map frames.

    A map frame sits at the input frame it was computed from: every frame for
    the Fast pathway, the frames ``PackPathways`` picks for the Slow one.
    """
    if num_map_frames == num_frames:
        return np.eye(num_frames, dtype="float32")
    if alpha and num_frames // alpha == num_map_frames:
        positions = slow_frame_indices(num_frames, alpha).astype("float64")
    else:
        positions = np.linspace(0, num_frames - 1, num_map_frames)
    frames = np.arange(num_frames)
    columns = np.eye(num_map_frames)
    # np.interp holds the end values beyond the first and last map frame.
    return np.stack(
        [np.interp(frames, positions, column) for column in columns], axis=1
    ).astype("float32")


def class_activation_map(
    features, gradients, output_shape, alpha=None, weighting="mean"
):
    """Grad-CAM of one layer, upsampled to the clip and normalised to [0, 1].

    Args:
        features: ``(batch, t, h, w, c)`` feature maps of the layer.
        gradients: same shape: the score's gradient with respect to them.
        output_shape: ``(frames, height, width)`` of the input clip.
        alpha: int or None. The Slow pathway's frame step, to place its map
            frames at the input frames ``PackPathways`` sampled.
        weighting: ``"mean"``: Grad-CAM, each channel weighted by its mean
            gradient. ``"elementwise"``: HiResCAM (Draelos and Carin, 2020),
            each position by its own gradient, which keeps a detector's map
            inside the box (see :func:`grad_cam`); for an average-pooled
            classifier head the two are the same.

    Returns:
        float32 tensor ``(batch, frames, height, width)``; each clip's map
        spans [0, 1] (all zeros where no position has a positive weight).
    """
    features = ops.cast(features, "float32")
    gradients = ops.cast(gradients, "float32")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r} must be one of {WEIGHTINGS}")
    weights = gradients
    if weighting == "mean":
        weights = ops.mean(gradients, axis=(1, 2, 3), keepdims=True)
    cam = ops.relu(ops.sum(weights * features, axis=-1))  # (b, t, h, w)
    batch, t, h, w = (int(s) for s in cam.shape)
    frames, height, width = output_shape
    cam = ops.image.resize(
        ops.reshape(cam, (batch * t, h, w, 1)), (height, width), "bilinear"
    )
    cam = ops.reshape(cam, (batch, t, height, width))
    time = ops.convert_to_tensor(_time_weights(t, frames, alpha))
    cam = ops.einsum("ft,bthw->bfhw", time, cam)
    low = ops.min(cam, axis=(1, 2, 3), keepdims=True)
    high = ops.max(cam, axis=(1, 2, 3), keepdims=True)
    return (cam - low) / ops.maximum(high - low, 1e-12)


def grad_cam(model, clip, class_index=None, layers=None, boxes=None, weighting=None):
    """Grad-CAM maps of the Slow and the Fast pathway for a batch of clips.

    Args:
        model: a ``SlowFastVideoClassifier`` or ``SlowFastDetector``
            (``SlowFastDetector``). Its score before any softmax is what is
            explained; with a sigmoid or softmax head the maps are of the
            activated score (for a sigmoid, the same maps: a positive factor
            per score cancels in the normalisation).
        clip: float array ``(batch, frames, height, width, 3)`` normalised as
            the model expects (or one clip without the batch axis).
        class_index: None (explain each clip's, or box's, top class), an int
            (the same class everywhere) or an int array ``(batch,)``
            (classifier) or ``(batch, boxes)`` (detector).
        layers: None (the last stage of each pathway), a dict ``{"slow":
            NAME, "fast": NAME}``, or a list of layer names (keyed by the
            part before the first ``_``). Each layer must output a
            ``(batch, t, h, w, c)`` map.
        boxes: float array ``(batch, boxes, 4)``, only for detectors: ``x1,
            y1, x2, y2`` in pixels of the clip, padded with rows of -1 (whose
            maps are all zero and class -1); at least one row.
        weighting: None, ``"mean"`` or ``"elementwise"`` (see
            :func:`class_activation_map`). None: ``"mean"`` (Grad-CAM) for a
            classifier, ``"elementwise"`` for a detector. The detector head
            max-pools RoIAlign samples of the time-averaged maps, so a class
            score's mean gradient per channel is the same wherever the box
            is: with ``"mean"`` every box of a class would get one map.

    Returns:
        :class:`GradCAM`.

    Raises:
        ValueError: bad shapes, an unknown layer or class, boxes given to a
            classifier, or a backend without intermediate gradients (JAX).

    Examples:
    >>> result = grad_cam(model, clip)                  # doctest: +SKIP
    >>> result.maps["fast"].shape  # (batch, frames, height, width)
    """
    layers = _check_layers(model, layers)
    clip, boxes = _check_clip(model, clip, boxes)
    if weighting is None:
        weighting = "mean" if boxes is None else "elementwise"
    per_model = _EXPLAINERS.setdefault(model, {})
    key = tuple(sorted(layers.items()))
    if key not in per_model:
        per_model[key] = _Explainer(model, layers)
    explainer = per_model[key]
    num_boxes = None if boxes is None else boxes.shape[1]
    requested = _requested_classes(model, class_index, clip.shape[0], num_boxes)
    inputs = clip if boxes is None else [clip, boxes]
    features, grads, scores, chosen = explainer(inputs, requested, num_boxes or 1)
    alpha = getattr(model, "alpha", None)
    maps = {}
    for i, key in enumerate(explainer.keys):
        # A map with as many frames as the clip is the Fast pathway's.
        step = alpha if features[i].shape[1] != clip.shape[1] else None
        per_target = [
            np.asarray(
                class_activation_map(
                    features[i], g[i], clip.shape[1:4], step, weighting
                )
            )
            for g in grads
        ]
        maps[key] = per_target[0] if boxes is None else np.stack(per_target, 1)
    chosen = np.asarray(ops.convert_to_numpy(chosen), "int64")
    if boxes is not None:
        padding = np.asarray(box_mask(boxes)) == 0  # rows of -1, as the head
        for key in maps:
            maps[key][padding] = 0.0
        chosen[padding] = -1
    return GradCAM(
        maps=maps,
        class_index=chosen,
        scores=np.asarray(ops.convert_to_numpy(scores), "float32"),
        layers=layers,
    )
