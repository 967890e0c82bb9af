"""Non-local (space-time self-attention) block, as used on the Slow pathway."""

from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.conv_bn import BN_EPSILON, BN_MOMENTUM
from keras_slowfast.layers.conv_formulations import add_bias
from keras_slowfast.layers.utils import (
    as_triple,
    check_choice,
    he_normal_fan_out,
    max_pool_3d,
    register,
)

AFFINITIES = ("dot_product", "softmax")


@register
class NonLocalBlock(keras.layers.Layer):
    """Non-local block (Wang et al. 2018) with a residual connection.

    ``theta``, ``phi`` and ``g`` are 1x1x1 convolutions with bias to
    ``inner_filters`` channels. ``phi`` and ``g`` read a max-pooled copy of
    the input (``pool_size``) to save computation. The affinity between every
    pair of positions is either ``"dot_product"`` (divided by the number of
    pooled positions) or ``"softmax"`` (scaled by ``inner_filters ** -0.5``).
    The attended features go through a 1x1x1 conv with bias and a BN whose
    scale starts at zero, then are added to the input. Follows PySlowFast
    ``nonlocal_helper.py``.

    Args:
        inner_filters: int or None. Channels of theta/phi/g; defaults to half
            the input channels.
        affinity: str. ``"dot_product"`` or ``"softmax"``.
        pool_size: tuple of 3 ints or None. Max-pool window (and stride) applied
            before ``phi`` and ``g``; None disables pooling.
        **kwargs: Standard layer arguments.

    Examples:
    >>> block = NonLocalBlock(affinity="softmax")
    >>> block(keras.ops.zeros((1, 2, 4, 4, 8))).shape
    (1, 2, 4, 4, 8)
    """

    def __init__(
        self, inner_filters=None, affinity="dot_product", pool_size=(1, 2, 2), **kwargs
    ):
        super().__init__(**kwargs)
        self.inner_filters = None if inner_filters is None else int(inner_filters)
        self.affinity = check_choice(affinity, AFFINITIES, "affinity")
        self.pool_size = (
            None if pool_size is None else as_triple(pool_size, "pool_size")
        )
        self._pools = self.pool_size not in (None, (1, 1, 1))

    def _conv(self, filters, name):
        return keras.layers.Conv3D(
            filters,
            1,
            use_bias=True,
            kernel_initializer=he_normal_fan_out(),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        inner = self.inner_filters or channels // 2
        self._inner = inner
        self.theta = self._conv(inner, "theta")
        self.phi = self._conv(inner, "phi")
        self.g = self._conv(inner, "g")
        self.out = self._conv(channels, "out")
        self.bn = keras.layers.BatchNormalization(
            epsilon=BN_EPSILON,
            momentum=BN_MOMENTUM,
            gamma_initializer="zeros",
            dtype=self.dtype_policy,
            name="bn",
        )
        for conv in (self.theta, self.phi, self.g):
            conv.build(input_shape)
        inner_shape = tuple(input_shape[:-1]) + (inner,)
        self.out.build(inner_shape)
        self.bn.build(input_shape)

    @staticmethod
    def _project(conv, x):
        """The 1x1x1 convolution ``conv`` of ``x``, as ``(batch, positions, filters)``.

        Computed as one matrix product with the conv's kernel and bias: what a
        1x1x1 convolution is, and several times faster than TensorFlow's CPU
        Conv3D (``conv_formulations.pointwise_conv``).
        """
        channels, filters = conv.kernel.shape[-2:]
        y = ops.matmul(
            ops.reshape(x, (-1, channels)),
            ops.cast(ops.reshape(conv.kernel, (channels, filters)), x.dtype),
        )
        return ops.reshape(add_bias(y, conv.bias), (ops.shape(x)[0], -1, filters))

    def call(self, inputs, training=None):
        shape = ops.shape(inputs)
        inner = self._inner
        theta = self._project(self.theta, inputs)
        pooled = inputs
        if self._pools:
            pooled = max_pool_3d(inputs, self.pool_size, self.pool_size)
        phi = self._project(self.phi, pooled)
        g = self._project(self.g, pooled)
        # (batch, positions, pooled positions)
        affinity = ops.matmul(theta, ops.transpose(phi, (0, 2, 1)))
        if self.affinity == "softmax":
            affinity = ops.softmax(affinity * (inner**-0.5), axis=-1)
        else:
            affinity = affinity / ops.cast(ops.shape(phi)[1], affinity.dtype)
        attended = self._project(self.out, ops.matmul(affinity, g))
        attended = ops.reshape(attended, shape)
        residual = self.bn(attended, training=training)
        return inputs + residual

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def flop_counts(self, input_shape):
        """Per-operator FLOPs: the four 1x1x1 convs, two attention matmuls, BN."""
        _, t, h, w, channels = input_shape
        inner = self.inner_filters or channels // 2
        positions = t * h * w
        if self._pools:
            pt, ph, pw = self.pool_size
            pooled = (t // pt) * (h // ph) * (w // pw)
        else:
            pooled = positions
        return Counter(
            conv=2 * positions * channels * inner + 2 * pooled * channels * inner,
            matmul=2 * positions * pooled * inner,
            batch_norm=2 * positions * channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "inner_filters": self.inner_filters,
                "affinity": self.affinity,
                "pool_size": self.pool_size,
            }
        )
        return config
