"""The ResNet bottleneck block of SlowFast, with a temporal kernel on conv a."""

from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.conv_bn import ConvBN3D
from keras_slowfast.layers.utils import register


@register
class BottleneckBlock(keras.layers.Layer):
    """Bottleneck residual block: (k_t,1,1) -> (1,3,3) -> (1,1,1), then add + ReLU.

    Conv a carries the temporal kernel (``temporal_kernel_size``), conv b the
    spatial stride and dilation, conv c expands to ``filters``. Each conv is
    followed by BN; ReLU follows a and b. The last BN's scale starts at zero.
    A projection shortcut (1x1x1 conv with the spatial stride, then BN) is
    created when the block changes the channel count or the resolution, as in
    PySlowFast ``resnet_helper.py``.

    Args:
        filters: int. Output channels.
        inner_filters: int. Channels of convs a and b.
        temporal_kernel_size: int. Temporal kernel of conv a (1 or 3).
        spatial_stride: int. Spatial stride of conv b and of the shortcut.
        dilation: int. Spatial dilation of conv b (2 in the detection res5).
        **kwargs: Standard layer arguments.

    Examples:
    >>> block = BottleneckBlock(32, 8, temporal_kernel_size=3, spatial_stride=2)
    >>> block(keras.ops.zeros((1, 4, 8, 8, 16))).shape
    (1, 4, 4, 4, 32)
    """

    def __init__(
        self,
        filters,
        inner_filters,
        temporal_kernel_size=1,
        spatial_stride=1,
        dilation=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.inner_filters = int(inner_filters)
        self.temporal_kernel_size = int(temporal_kernel_size)
        self.spatial_stride = int(spatial_stride)
        self.dilation = int(dilation)
        policy = self.dtype_policy
        self.conv_a = ConvBN3D(
            self.inner_filters,
            (self.temporal_kernel_size, 1, 1),
            dtype=policy,
            name="conv_a",
        )
        self.conv_b = ConvBN3D(
            self.inner_filters,
            (1, 3, 3),
            strides=(1, self.spatial_stride, self.spatial_stride),
            dilation_rate=(1, self.dilation, self.dilation),
            dtype=policy,
            name="conv_b",
        )
        self.conv_c = ConvBN3D(
            self.filters,
            1,
            activation=False,
            zero_init_gamma=True,
            dtype=policy,
            name="conv_c",
        )
        self.shortcut = None

    def build(self, input_shape):
        if input_shape[-1] != self.filters or self.spatial_stride != 1:
            self.shortcut = ConvBN3D(
                self.filters,
                1,
                strides=(1, self.spatial_stride, self.spatial_stride),
                activation=False,
                dtype=self.dtype_policy,
                name="shortcut",
            )
            self.shortcut.build(input_shape)
        shape = input_shape
        for conv in (self.conv_a, self.conv_b, self.conv_c):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = self.conv_a(inputs, training=training)
        x = self.conv_b(x, training=training)
        x = self.conv_c(x, training=training)
        shortcut = inputs
        if self.shortcut is not None:
            shortcut = self.shortcut(inputs, training=training)
        return ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for conv in (self.conv_a, self.conv_b, self.conv_c):
            shape = conv.compute_output_shape(shape)
        return shape

    def flop_counts(self, input_shape):
        """Per-operator FLOPs of the block, shortcut included (needs ``build``)."""
        counts, shape = Counter(), input_shape
        for conv in (self.conv_a, self.conv_b, self.conv_c):
            counts += conv.flop_counts(shape)
            shape = conv.compute_output_shape(shape)
        if self.shortcut is not None:
            counts += self.shortcut.flop_counts(input_shape)
        return counts

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "inner_filters": self.inner_filters,
                "temporal_kernel_size": self.temporal_kernel_size,
                "spatial_stride": self.spatial_stride,
                "dilation": self.dilation,
            }
        )
        return config
