"""The per-pathway stem: a wide conv unit followed by spatial max pooling."""

import keras
from keras import ops

from keras_slowfast.layers.conv_bn import ConvBN3D
from keras_slowfast.layers.utils import conv_output_length, max_pool_3d, register


@register
class PathwayStem(keras.layers.Layer):
    """Stem of one pathway: Conv (t, 7, 7) stride (1, 2, 2) -> BN -> ReLU -> MaxPool.

    The max pool has kernel (1, 3, 3), stride (1, 2, 2) and padding (0, 1, 1)
    as in PySlowFast ``stem_helper.py``. The padding uses zeros instead of
    ``-inf``: the pool follows a ReLU, so every value is >= 0 and the result is
    the same.

    Args:
        filters: int. Output channels (64 slow, 8 fast for beta = 1/8).
        temporal_kernel_size: int. Temporal size of the conv kernel (1 slow,
            5 fast).
        spatial_kernel_size: int. Spatial size of the conv kernel.
        **kwargs: Standard layer arguments.

    Examples:
    >>> stem = PathwayStem(8, temporal_kernel_size=5)
    >>> stem(keras.ops.zeros((1, 8, 32, 32, 3))).shape
    (1, 8, 8, 8, 8)
    """

    def __init__(self, filters, temporal_kernel_size, spatial_kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.temporal_kernel_size = int(temporal_kernel_size)
        self.spatial_kernel_size = int(spatial_kernel_size)
        self.conv = ConvBN3D(
            self.filters,
            (
                self.temporal_kernel_size,
                self.spatial_kernel_size,
                self.spatial_kernel_size,
            ),
            strides=(1, 2, 2),
            dtype=self.dtype_policy,
            name="conv",
        )

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, inputs, training=None):
        x = self.conv(inputs, training=training)
        x = ops.pad(x, [[0, 0], [0, 0], [1, 1], [1, 1], [0, 0]])
        return max_pool_3d(x, (1, 3, 3), (1, 2, 2))

    def compute_output_shape(self, input_shape):
        b, t, h, w, _ = self.conv.compute_output_shape(input_shape)
        return (
            b,
            t,
            conv_output_length(h, 3, 2, 1),
            conv_output_length(w, 3, 2, 1),
            self.filters,
        )

    def flop_counts(self, input_shape):
        """Per-operator FLOPs of the stem (the pooling is not counted)."""
        return self.conv.flop_counts(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "temporal_kernel_size": self.temporal_kernel_size,
                "spatial_kernel_size": self.spatial_kernel_size,
            }
        )
        return config
