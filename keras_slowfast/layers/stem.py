"""The per-pathway stem: a wide conv unit followed by spatial max pooling."""

import keras

from keras_slowfast.layers.conv_bn import ConvBN3D
from keras_slowfast.layers.utils import (
    conv_output_length,
    padded_max_pool_2d,
    register,
)


def stem_max_pool(frames):
    """The stem's max pool of a batch of frames ``(n, h, w, c)``.

    Kernel 3, stride 2, padding 1 in height and width, frame by frame: the
    (1, 3, 3) max pool of PySlowFast ``stem_helper.py``.
    """
    return padded_max_pool_2d(frames, 3, 2, 1)


@register
class PathwayStem(keras.layers.Layer):
    """Stem of one pathway: Conv (t, 7, 7) stride (1, 2, 2) -> BN -> ReLU -> MaxPool.

    The max pool has kernel (1, 3, 3), stride (1, 2, 2) and padding (0, 1, 1)
    as in PySlowFast ``stem_helper.py``. The pool runs frame by frame as a 2D
    pooling inside the conv unit (``ConvBN3D``'s ``frame_wise``), so that a
    frame-stacked stem pools before it unstacks its output frames.

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
        return self.conv(inputs, training=training, frame_wise=stem_max_pool)

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
