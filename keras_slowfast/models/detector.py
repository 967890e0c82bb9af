"""SlowFastDetector: SlowFast with an RoI head for AVA spatiotemporal detection."""

import keras
from keras import ops

from keras_slowfast.layers.heads import HEAD_ACTIVATIONS, DetectionHead
from keras_slowfast.layers.utils import check_choice, register
from keras_slowfast.models.slowfast import STAGE_NAMES, SlowFastNet, check_video_input

# SlowFastNet arguments that describe the backbone; the detector accepts them
# and stores them in its config under the same names.
BACKBONE_ARGUMENTS = (
    "stage_depths",
    "alpha",
    "beta_inv",
    "num_frames",
    "stem_filters",
    "stem_temporal_kernel_sizes",
    "temporal_kernel_sizes",
    "fusion",
    "fusion_kernel_size",
    "fusion_channel_ratio",
    "nonlocal_blocks",
    "nonlocal_affinity",
    "nonlocal_pool_size",
    "fast_input",
    "spatial_strides",
    "spatial_dilations",
    "image_size",
    "input_convention",
)
# AVA detection backbone: res5 keeps stride 16 by dilation instead of striding
# (REFERENCE "Detection").
DETECTION_BACKBONE_DEFAULTS = {
    "spatial_strides": [1, 2, 2, 1],
    "spatial_dilations": [1, 1, 1, 2],
}


@register
class SlowFastDetector(keras.Model):
    """SlowFast action detector: scores every person box of a clip.

    The backbone is SlowFastNet's (same layers, same top-level names
    ``pack``, ``slow_stem``, ``fast_stem``, ``fuse_stem``, ``slow_res2`` ...
    ``fuse_res4``), by default with res5 at spatial stride 1 and dilation 2 so
    the final maps have stride 16. The head (layer ``head``, a
    :class:`DetectionHead`) averages each pathway over time, pools each box
    with RoIAlign 7x7 at ``spatial_scale`` 1/16, max-pools the 7x7 grid,
    concatenates Slow and Fast, and applies dropout, the dense layer
    ``head.proj`` and a sigmoid.

    Inputs: ``video`` ``(batch, num_frames, H, W, 3)``, normalized as for
    SlowFastNet, and ``boxes`` ``(batch, max_boxes, 4)``, ``x1, y1, x2, y2``
    in pixels of the input clip, padded with rows of -1. Output:
    ``(batch, max_boxes, num_classes)`` scores, zero for padding rows. Train
    with :class:`DetectionBinaryCrossentropy`.

    Args:
        num_classes: int. Action classes (80 for AVA).
        max_boxes: int or None. Boxes per clip; None accepts any number.
        roi_size: int or 2 ints. RoIAlign output size.
        spatial_scale: float or None. Feature-map / input size; None derives
            it from the stem (1/4) and ``spatial_strides``.
        sampling_ratio: int. RoIAlign samples per bin and axis, 0 = adaptive.
        aligned: bool. RoIAlign half-pixel offset (PyTorchVideo: False,
            PySlowFast: True).
        dropout_rate: float. Head dropout.
        head_activation: ``"sigmoid"``, ``"softmax"`` or None.
        **kwargs: Backbone arguments of :class:`SlowFastNet` (``stage_depths``,
            ``alpha``, ``beta_inv``, ``num_frames``, ``fusion_kernel_size``,
            ``spatial_strides``, ``spatial_dilations``, ``image_size``,
            ``input_convention``...; see ``BACKBONE_ARGUMENTS``) and Model
            arguments (``name``, ``dtype``).

    Examples:
    >>> model = SlowFastDetector(stage_depths=[1, 1, 1, 1], num_frames=8,
    ...                          num_classes=5)
    >>> scores = model([keras.ops.zeros((1, 8, 64, 64, 3)),
    ...                 keras.ops.convert_to_tensor([[[8., 8., 40., 60.]]])])
    >>> tuple(scores.shape)
    (1, 1, 5)
    """

    def __init__(
        self,
        *,
        num_classes=80,
        max_boxes=None,
        roi_size=(7, 7),
        spatial_scale=None,
        sampling_ratio=0,
        aligned=False,
        dropout_rate=0.5,
        head_activation="sigmoid",
        **kwargs,
    ):
        backbone_args = {**DETECTION_BACKBONE_DEFAULTS}
        for key in BACKBONE_ARGUMENTS:
            if key in kwargs:
                backbone_args[key] = kwargs.pop(key)
        if "pathways" in kwargs and kwargs.pop("pathways") != "slowfast":
            raise ValueError("SlowFastDetector supports pathways='slowfast' only")
        check_choice(head_activation, HEAD_ACTIVATIONS, "head_activation")
        # A throwaway SlowFastNet normalizes and checks the backbone config and
        # provides each backbone layer's config. The detector's own layers are
        # fresh copies (same top-level names, so checkpoint keys map by rule),
        # not shared objects, so no layer belongs to two graphs.
        dtype = kwargs.get("dtype")
        template = SlowFastNet(
            **backbone_args,
            include_top=False,
            pooling=None,
            num_classes=None,
            dtype=dtype,
        )
        backbone_config = {
            key: value
            for key, value in template.get_config().items()
            if key in BACKBONE_ARGUMENTS
        }

        def copy(name):
            layer = template.get_layer(name)
            return layer.__class__.from_config(layer.get_config())

        if spatial_scale is None:
            stride = 4
            for s in backbone_config["spatial_strides"]:
                stride *= s
            spatial_scale = 1.0 / stride
        spatial = backbone_config["image_size"] or (None, None)
        video = keras.Input(
            shape=(backbone_config["num_frames"], *spatial, 3), name="video"
        )
        max_boxes = None if max_boxes is None else int(max_boxes)
        boxes = keras.Input(shape=(max_boxes, 4), name="boxes")
        slow, fast = copy("pack")(video)
        slow, fast = copy("slow_stem")(slow), copy("fast_stem")(fast)
        fuse_names = ("fuse_stem", "fuse_res2", "fuse_res3", "fuse_res4")
        for stage, stage_name in enumerate(STAGE_NAMES):
            slow, fast = copy(fuse_names[stage])([slow, fast])
            slow = copy(f"slow_{stage_name}")(slow)
            fast = copy(f"fast_{stage_name}")(fast)
        scores = DetectionHead(
            num_classes,
            roi_size=roi_size,
            spatial_scale=spatial_scale,
            sampling_ratio=sampling_ratio,
            aligned=aligned,
            dropout_rate=dropout_rate,
            activation=head_activation,
            name="head",
            dtype=dtype,
        )([slow, fast, boxes])
        super().__init__(inputs=[video, boxes], outputs=scores, **kwargs)

        # The policy every layer got (a functional Model keeps none itself).
        self.dtype_argument = (
            None if dtype is None else keras.dtype_policies.get(dtype).name
        )
        for key, value in backbone_config.items():
            setattr(self, key, value)
        self.backbone_config = backbone_config
        head = self.get_layer("head")
        self.num_classes = head.num_classes
        self.max_boxes = max_boxes
        self.roi_size = list(head.roi_align.output_size)
        self.spatial_scale = head.roi_align.spatial_scale
        self.sampling_ratio = head.roi_align.sampling_ratio
        self.aligned = head.roi_align.aligned
        self.dropout_rate = head.dropout_rate
        self.head_activation = head.activation

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
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_argument,
            **self.backbone_config,
            "num_classes": self.num_classes,
            "max_boxes": self.max_boxes,
            "roi_size": self.roi_size,
            "spatial_scale": self.spatial_scale,
            "sampling_ratio": self.sampling_ratio,
            "aligned": self.aligned,
            "dropout_rate": self.dropout_rate,
            "head_activation": self.head_activation,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


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
        **kwargs: Any other :class:`SlowFastDetector` argument.

    Returns:
        A ``SlowFastDetector``.
    """
    config = {
        "stage_depths": [3, 4, 6, 3],
        "alpha": 4,
        "beta_inv": 8,
        "num_frames": 32,
        "fusion_kernel_size": 7,
        "name": "slowfast_r50_detection",
    }
    config.update(kwargs)
    return SlowFastDetector(num_classes=num_classes, **config)
