"""Classification head over the pathways' final feature maps."""

from collections import Counter

import keras
from keras import ops

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
        self.activation = check_choice(activation, HEAD_ACTIVATIONS, "head_activation")
        self.spatial_pool_size = (
            None if spatial_pool_size is None else tuple(int(s) for s in spatial_pool_size)
        )
        self.dropout = keras.layers.Dropout(self.dropout_rate, name="dropout")
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
