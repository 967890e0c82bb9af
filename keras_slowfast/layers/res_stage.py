"""A residual stage: a stack of bottleneck blocks with optional non-local blocks."""

from collections import Counter

import keras

from keras_slowfast.layers.bottleneck import BottleneckBlock
from keras_slowfast.layers.non_local import NonLocalBlock
from keras_slowfast.layers.utils import register


@register
class ResStage(keras.layers.Layer):
    """One ResNet stage (res2..res5) of one pathway.

    Block 0 carries the spatial stride; a non-local block follows each block
    whose index is in ``nonlocal_blocks`` (PySlowFast ``NONLOCAL.LOCATION``).
    Sub-layers are named ``block{i}`` and ``nonlocal{i}`` so checkpoint
    converters can address them by rule.

    Args:
        filters: int. Output channels of every block.
        inner_filters: int. Bottleneck width of every block.
        temporal_kernel_sizes: list of ints, one per block. Temporal kernel of
            each block's conv a; its length sets the number of blocks.
        spatial_stride: int. Spatial stride of the first block.
        dilation: int. Spatial dilation of conv b in every block.
        nonlocal_blocks: list of ints. Block indices followed by a non-local
            block.
        nonlocal_affinity: str. ``"dot_product"`` or ``"softmax"``.
        nonlocal_pool_size: tuple of 3 ints or None. Pooling inside the
            non-local blocks.
        **kwargs: Standard layer arguments.

    Examples:
    >>> stage = ResStage(32, 8, temporal_kernel_sizes=[3, 3], spatial_stride=2)
    >>> stage(keras.ops.zeros((1, 4, 8, 8, 16))).shape
    (1, 4, 4, 4, 32)
    """

    def __init__(
        self,
        filters,
        inner_filters,
        temporal_kernel_sizes,
        spatial_stride=1,
        dilation=1,
        nonlocal_blocks=(),
        nonlocal_affinity="dot_product",
        nonlocal_pool_size=(1, 2, 2),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.inner_filters = int(inner_filters)
        self.temporal_kernel_sizes = [int(k) for k in temporal_kernel_sizes]
        if not self.temporal_kernel_sizes:
            raise ValueError("temporal_kernel_sizes must list at least one block")
        self.spatial_stride = int(spatial_stride)
        self.dilation = int(dilation)
        self.nonlocal_blocks = sorted(int(i) for i in nonlocal_blocks)
        num_blocks = len(self.temporal_kernel_sizes)
        bad = [i for i in self.nonlocal_blocks if not 0 <= i < num_blocks]
        if bad:
            raise ValueError(
                f"nonlocal_blocks={self.nonlocal_blocks} has indices {bad} outside "
                f"a stage of {num_blocks} blocks"
            )
        self.nonlocal_affinity = nonlocal_affinity
        self.nonlocal_pool_size = (
            None if nonlocal_pool_size is None else tuple(nonlocal_pool_size)
        )
        self.blocks = []
        for i, k_t in enumerate(self.temporal_kernel_sizes):
            self.blocks.append(
                BottleneckBlock(
                    self.filters,
                    self.inner_filters,
                    temporal_kernel_size=k_t,
                    spatial_stride=self.spatial_stride if i == 0 else 1,
                    dilation=self.dilation,
                    dtype=self.dtype_policy,
                    name=f"block{i}",
                )
            )
        self.nonlocal_layers = [
            NonLocalBlock(
                affinity=self.nonlocal_affinity,
                pool_size=self.nonlocal_pool_size,
                dtype=self.dtype_policy,
                name=f"nonlocal{i}",
            )
            for i in self.nonlocal_blocks
        ]

    def _sequence(self):
        nonlocals = dict(zip(self.nonlocal_blocks, self.nonlocal_layers, strict=True))
        for i, block in enumerate(self.blocks):
            yield block
            if i in nonlocals:
                yield nonlocals[i]

    def build(self, input_shape):
        shape = input_shape
        for layer in self._sequence():
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._sequence():
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._sequence():
            shape = layer.compute_output_shape(shape)
        return shape

    def flop_counts(self, input_shape):
        """Per-operator FLOPs of every block and non-local block."""
        counts, shape = Counter(), input_shape
        for layer in self._sequence():
            counts += layer.flop_counts(shape)
            shape = layer.compute_output_shape(shape)
        return counts

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "inner_filters": self.inner_filters,
                "temporal_kernel_sizes": self.temporal_kernel_sizes,
                "spatial_stride": self.spatial_stride,
                "dilation": self.dilation,
                "nonlocal_blocks": self.nonlocal_blocks,
                "nonlocal_affinity": self.nonlocal_affinity,
                "nonlocal_pool_size": self.nonlocal_pool_size,
            }
        )
        return config
