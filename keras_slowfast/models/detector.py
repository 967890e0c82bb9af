"""SlowFastDetector: a SlowFast backbone with an RoI head for AVA detection."""

import keras
from keras import ops

from keras_slowfast.layers.heads import HEAD_ACTIVATIONS, DetectionHead
from keras_slowfast.layers.utils import check_choice, check_model_keywords, register
from keras_slowfast.models.backbone import check_video_input
from keras_slowfast.models.presets import (
    DETECTION_SPATIAL_DILATIONS,
    DETECTION_SPATIAL_STRIDES,
)
from keras_slowfast.models.task import (
    SlowFastTask,
    check_backbone,
    task_preprocessor,
)


@register
class SlowFastDetector(SlowFastTask):
    """SlowFast action detector: scores every person box of a clip.

    A :class:`SlowFastBackbone` (for AVA built with res5 at spatial stride 1
    and dilation 2, so the final maps have stride 16: paper section 5.1; see
    :func:`SlowFastR50Detection`) and a head (layer ``head``, a
    :class:`DetectionHead`) that averages each pathway over time, pools each
    box with RoIAlign 7x7 at ``spatial_scale``, max-pools the 7x7 grid,
    concatenates Slow and Fast, and applies dropout, the dense layer
    ``head.proj`` and a sigmoid.

    Inputs: ``video`` ``(batch, num_frames, H, W, 3)``, normalized by
    ``preprocessor``, and ``boxes`` ``(batch, max_boxes, 4)``, ``x1, y1, x2,
    y2`` in pixels of the input clip, padded with rows of -1. Output:
    ``(batch, max_boxes, num_classes)`` scores, zero for padding rows. Train
    with :class:`DetectionBinaryCrossentropy`.

    Args:
        backbone: :class:`SlowFastBackbone`: both pathways, or the Slow one
            alone (PyTorchVideo ``slow_r50_detection``).
        num_classes: int. Action classes (80 for AVA).
        max_boxes: int or None. Boxes per clip; None accepts any number.
        roi_size: int or 2 ints. RoIAlign output size.
        spatial_scale: float or None. Feature-map / input size; None derives
            it from the backbone (``1 / backbone.feature_stride``).
        sampling_ratio: int. RoIAlign samples per bin and axis, 0 = adaptive.
        aligned: bool. RoIAlign half-pixel offset (PyTorchVideo: False,
            PySlowFast: True).
        dropout_rate: float. Head dropout.
        activation: ``"sigmoid"``, ``"softmax"`` or None.
        preprocessor: :class:`VideoPreprocessor` or None (the default
            convention), saved with the model.
        class_names: list of str or None. Name of each class (index = class
            id), saved with the model; prediction, detection, explanation and
            export show these names.
        **kwargs: ``name``, ``dtype`` (the head's policy; default: the
            backbone's) and ``trainable``.

    Examples:
    >>> backbone = SlowFastBackbone(stage_depths=[1, 1, 1, 1], alpha=4,
    ...                             num_frames=8, spatial_strides=[1, 2, 2, 1],
    ...                             spatial_dilations=[1, 1, 1, 2])
    >>> model = SlowFastDetector(backbone, num_classes=5)
    >>> scores = model([keras.ops.zeros((1, 8, 64, 64, 3)),
    ...                 keras.ops.convert_to_tensor([[[8., 8., 40., 60.]]])])
    >>> tuple(scores.shape)
    (1, 1, 5)
    """

    PRESET_BACKBONE_ARGUMENTS = {
        "spatial_strides": DETECTION_SPATIAL_STRIDES,
        "spatial_dilations": DETECTION_SPATIAL_DILATIONS,
    }

    ZOO_TASK = "detector"

    def __init__(
        self,
        backbone,
        num_classes=80,
        *,
        max_boxes=None,
        roi_size=(7, 7),
        spatial_scale=None,
        sampling_ratio=0,
        aligned=False,
        dropout_rate=0.5,
        activation="sigmoid",
        preprocessor=None,
        class_names=None,
        **kwargs,
    ):
        check_backbone(backbone, "SlowFastDetector")
        check_model_keywords(kwargs, "SlowFastDetector")
        check_choice(activation, HEAD_ACTIVATIONS, "activation")
        preprocessor = task_preprocessor(preprocessor)
        dtype = kwargs.pop("dtype", None) or backbone.dtype_argument
        if spatial_scale is None:
            spatial_scale = 1.0 / backbone.feature_stride
        max_boxes = None if max_boxes is None else int(max_boxes)
        head = DetectionHead(
            num_classes,
            roi_size=roi_size,
            spatial_scale=spatial_scale,
            sampling_ratio=sampling_ratio,
            aligned=aligned,
            dropout_rate=dropout_rate,
            activation=activation,
            name="head",
            dtype=dtype,
        )
        video = backbone.input
        boxes = keras.Input(shape=(max_boxes, 4), name="boxes")
        maps = backbone(video)
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        scores = head([*maps, boxes])
        super().__init__(inputs=[video, boxes], outputs=scores, **kwargs)
        # Set after the functional init (torch backend; see the classifier).
        self._set_task_parts(backbone, head, preprocessor, dtype, class_names)
        self.num_classes = self.head.num_classes
        self.max_boxes = max_boxes
        self.roi_size = list(self.head.roi_align.output_size)
        self.spatial_scale = self.head.roi_align.spatial_scale
        self.sampling_ratio = self.head.roi_align.sampling_ratio
        self.aligned = self.head.roi_align.aligned
        self.dropout_rate = self.head.dropout_rate
        self.activation = self.head.activation

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            video, boxes = inputs.get("video"), inputs.get("boxes")
        elif isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            video, boxes = inputs
        else:
            raise ValueError(
                "SlowFastDetector expects [video, boxes] (or a dict with 'video' "
                f"and 'boxes'), got {type(inputs).__name__}"
            )
        check_video_input(video, self.num_frames, self.image_size)
        shape = getattr(boxes, "shape", None)
        if shape is not None and (len(shape) != 3 or shape[-1] != 4):
            raise ValueError(
                "boxes must be (batch, max_boxes, 4) as x1, y1, x2, y2 in pixels, "
                f"got shape {tuple(shape)}"
            )
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        return {
            **self._base_config(),
            "num_classes": self.num_classes,
            "max_boxes": self.max_boxes,
            "roi_size": self.roi_size,
            "spatial_scale": self.spatial_scale,
            "sampling_ratio": self.sampling_ratio,
            "aligned": self.aligned,
            "dropout_rate": self.dropout_rate,
            "activation": self.activation,
        }


@register
class DetectionBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy over real boxes only (AVA multi-label training).

    ``y_true`` is ``(batch, max_boxes, num_classes)`` multi-hot labels whose
    padding rows are filled with -1 (as :func:`keras_slowfast.data.ava`
    produces them); ``y_pred`` the detector's sigmoid scores. The loss is the
    mean BCE over the classes of the real boxes, so padding does not dilute
    it.

    Args:
        from_logits: bool. Whether ``y_pred`` are logits.
        **kwargs: ``name`` and other Loss arguments (the reduction is fixed).
    """

    def __init__(self, from_logits=False, name="detection_bce", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="none", **kwargs)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        valid = ops.cast(ops.all(y_true >= 0, axis=-1), y_pred.dtype)
        per_box = keras.losses.binary_crossentropy(
            ops.maximum(y_true, 0.0), y_pred, from_logits=self.from_logits
        )  # (b, m): mean over classes
        total = ops.sum(per_box * valid)
        return total / ops.maximum(ops.sum(valid), 1.0)

    def get_config(self):
        config = super().get_config()
        config.pop("reduction", None)
        config["from_logits"] = self.from_logits
        return config


def SlowFastR50Detection(num_classes=80, **kwargs):
    """SlowFast 8x8 R50 AVA detector, as PyTorchVideo ``slowfast_r50_detection``.

    alpha 4, beta 1/8, 32 frames, T-conv fusion kernel 7, res5 stride 1 with
    dilation 2, RoIAlign 7x7 at 1/16 (``aligned=False``, sampling ratio 0),
    80 AVA classes: 33,828,888 parameters, as the PyTorchVideo model.

    Args:
        num_classes: int. Action classes.
        **kwargs: backbone arguments (overriding the above) and
            :class:`SlowFastDetector` arguments, told apart by name.

    Returns:
        A ``SlowFastDetector``.
    """
    kwargs.setdefault("name", "slowfast_r50_detection")
    return SlowFastDetector.from_preset("slowfast_8x8_r50", num_classes, **kwargs)
