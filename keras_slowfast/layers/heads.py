"""Classification head over the pathways' final feature maps."""

from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.roi_align import ROIAlign
from keras_slowfast.layers.utils import check_choice, register

HEAD_ACTIVATIONS = (None, "softmax", "sigmoid")


@register
class ClassificationHead(keras.layers.Layer):
    """Pools each pathway, concatenates (Slow first), dropout, dense.

    With ``spatial_pool_size=None`` every pathway is averaged over its whole
    ``(T, H, W)`` map. With ``spatial_pool_size=(7, 7)`` the head is applied
    fully convolutionally, as PySlowFast tests on crops larger than the
    training crop: each pathway is averaged over time and over (7, 7) windows
    with stride 1, the dense layer (and the activation) runs at every window
    position, and the per-position outputs are averaged. For logits the two
    give the same result on a 7x7 map; with ``activation="softmax"`` the
    second averages probabilities, as PySlowFast does at test time.

    With ``num_classes=None`` the head returns the pooled, concatenated
    features (the feature-extraction use).

    Args:
        num_classes: int or None. Output classes, or None for features.
        dropout_rate: float. Dropout before the dense layer (training only).
        activation: None, ``"softmax"`` or ``"sigmoid"``.
        spatial_pool_size: tuple of 2 ints or None. Window of the fully
            convolutional test-time pooling.
        **kwargs: Standard layer arguments.

    Examples:
    >>> head = ClassificationHead(10)
    >>> head([keras.ops.zeros((2, 4, 7, 7, 64)),
    ...       keras.ops.zeros((2, 16, 7, 7, 8))]).shape
    (2, 10)
    """

    def __init__(
        self,
        num_classes,
        dropout_rate=0.5,
        activation=None,
        spatial_pool_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes={num_classes} must be a positive integer")
        self.num_classes = None if num_classes is None else int(num_classes)
        if not 0.0 <= float(dropout_rate) < 1.0:
            raise ValueError(f"dropout_rate={dropout_rate} must be in [0, 1)")
        self.dropout_rate = float(dropout_rate)
        self.activation = check_choice(activation, HEAD_ACTIVATIONS, "activation")
        self.spatial_pool_size = (
            None
            if spatial_pool_size is None
            else tuple(int(s) for s in spatial_pool_size)
        )
        self.dropout = keras.layers.Dropout(
            self.dropout_rate, dtype=self.dtype_policy, name="dropout"
        )
        self.proj = None
        if self.num_classes is not None:
            self.proj = keras.layers.Dense(
                self.num_classes,
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                bias_initializer="zeros",
                dtype=self.dtype_policy,
                name="proj",
            )

    def build(self, input_shape):
        channels = sum(shape[-1] for shape in input_shape)
        if self.proj is not None:
            self.proj.build((None, channels))

    def _pool(self, features):
        if self.spatial_pool_size is None:
            return ops.mean(features, axis=(1, 2, 3))
        # (batch, T, H, W, C) -> average over time, then (kh, kw) windows.
        pooled = ops.mean(features, axis=1)
        return ops.average_pool(
            pooled, self.spatial_pool_size, strides=1, padding="valid"
        )

    def call(self, inputs, training=None):
        x = ops.concatenate([self._pool(f) for f in inputs], axis=-1)
        if self.proj is None:
            return ops.mean(x, axis=(1, 2)) if x.ndim == 4 else x
        x = self.dropout(x, training=training)
        x = self.proj(x)
        if self.activation == "softmax":
            x = ops.softmax(x, axis=-1)
        elif self.activation == "sigmoid":
            x = ops.sigmoid(x)
        if x.ndim == 4:
            x = ops.mean(x, axis=(1, 2))
        return x

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0]
        if self.num_classes is None:
            return (batch, sum(shape[-1] for shape in input_shape))
        return (batch, self.num_classes)

    def flop_counts(self, input_shape):
        """Per-operator FLOPs of the dense projection (pooling is not counted)."""
        if self.num_classes is None:
            return Counter()
        return Counter(linear=sum(s[-1] for s in input_shape) * self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "dropout_rate": self.dropout_rate,
                "activation": self.activation,
                "spatial_pool_size": self.spatial_pool_size,
            }
        )
        return config


def box_mask(boxes):
    """1.0 for real boxes, 0.0 for padding rows (all four coordinates -1).

    Args:
        boxes: ``(batch, max_boxes, 4)`` boxes, padded with rows of -1.

    Returns:
        float32 ``(batch, max_boxes)``.
    """
    boxes = ops.convert_to_tensor(boxes)
    return ops.cast(ops.any(ops.not_equal(boxes, -1.0), axis=-1), "float32")


@register
class DetectionHead(keras.layers.Layer):
    """AVA action-detection head: one multi-label score vector per person box.

    Each pathway's map is averaged over time, the maps are concatenated (Slow
    first), RoIAlign pools a ``roi_size`` grid per box, a max pool over that
    grid gives one vector per box, then dropout, the dense layer ``proj`` and
    a sigmoid (PySlowFast / PyTorchVideo ``ResNetRoIHead``). Padding boxes
    (rows of -1, see :func:`box_mask`) get all-zero outputs.

    Inputs are ``[slow_map, fast_map, boxes]``: feature maps
    ``(batch, T_p, H, W, C_p)`` with the same ``H, W``, and boxes
    ``(batch, max_boxes, 4)`` as ``x1, y1, x2, y2`` in input-image pixels.

    Args:
        num_classes: int. Action classes.
        roi_size: int or 2 ints. RoIAlign output size.
        spatial_scale: float. Feature-map size / image size (1/16).
        sampling_ratio: int. RoIAlign samples per bin and axis; 0 = adaptive.
        aligned: bool. RoIAlign half-pixel offset (False in PyTorchVideo).
        dropout_rate: float. Dropout before ``proj`` (training only).
        activation: ``"sigmoid"`` (multi-label scores), ``"softmax"`` or None
            (logits).
        **kwargs: Standard layer arguments.

    Examples:
    >>> head = DetectionHead(80)
    >>> head([keras.ops.zeros((1, 8, 14, 14, 64)),
    ...       keras.ops.zeros((1, 32, 14, 14, 8)),
    ...       keras.ops.ones((1, 3, 4))]).shape
    (1, 3, 80)
    """

    def __init__(
        self,
        num_classes,
        roi_size=(7, 7),
        spatial_scale=1.0 / 16.0,
        sampling_ratio=0,
        aligned=False,
        dropout_rate=0.5,
        activation="sigmoid",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes={num_classes} must be a positive integer")
        self.num_classes = int(num_classes)
        if not 0.0 <= float(dropout_rate) < 1.0:
            raise ValueError(f"dropout_rate={dropout_rate} must be in [0, 1)")
        self.dropout_rate = float(dropout_rate)
        self.activation = check_choice(activation, HEAD_ACTIVATIONS, "activation")
        self.roi_align = ROIAlign(
            roi_size,
            spatial_scale=spatial_scale,
            sampling_ratio=sampling_ratio,
            aligned=aligned,
            dtype=self.dtype_policy,
            name="roi_align",
        )
        self.dropout = keras.layers.Dropout(
            self.dropout_rate, dtype=self.dtype_policy, name="dropout"
        )
        self.proj = keras.layers.Dense(
            self.num_classes,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="proj",
        )

    def build(self, input_shape):
        channels = sum(shape[-1] for shape in input_shape[:-1])
        self.proj.build((None, None, channels))

    def call(self, inputs, training=None):
        *maps, boxes = inputs
        pooled = ops.concatenate([ops.mean(m, axis=1) for m in maps], axis=-1)
        regions = self.roi_align([pooled, boxes])  # (b, m, h, w, c)
        x = ops.max(regions, axis=(2, 3))
        x = self.dropout(x, training=training)
        x = self.proj(x)
        if self.activation == "softmax":
            x = ops.softmax(x, axis=-1)
        elif self.activation == "sigmoid":
            x = ops.sigmoid(x)
        return x * ops.cast(box_mask(boxes), x.dtype)[..., None]

    def compute_output_shape(self, input_shape):
        boxes_shape = input_shape[-1]
        return (boxes_shape[0], boxes_shape[1], self.num_classes)

    def flop_counts(self, input_shape):
        """FLOPs of the dense projection per box (pooling is not counted)."""
        boxes = input_shape[-1][1] or 1
        channels = sum(s[-1] for s in input_shape[:-1])
        return Counter(linear=boxes * channels * self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "roi_size": list(self.roi_align.output_size),
                "spatial_scale": self.roi_align.spatial_scale,
                "sampling_ratio": self.roi_align.sampling_ratio,
                "aligned": self.roi_align.aligned,
                "dropout_rate": self.dropout_rate,
                "activation": self.activation,
            }
        )
        return config
