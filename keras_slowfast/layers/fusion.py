"""Lateral connections that fuse the Fast pathway into the Slow pathway."""

from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.conv_bn import ConvBN3D
from keras_slowfast.layers.utils import check_choice, register

FUSION_MODES = ("tconv", "tsample", "ttoc_sum", "ttoc_concat")


def fused_channels(mode, fast_channels, alpha, channel_ratio=2):
    """Channels a lateral connection adds to the Slow pathway (0 for a sum)."""
    check_choice(mode, FUSION_MODES, "fusion")
    return {
        "tconv": channel_ratio * fast_channels,
        "tsample": fast_channels,
        "ttoc_concat": alpha * fast_channels,
        "ttoc_sum": 0,
    }[mode]


@register
class LateralFusion(keras.layers.Layer):
    """Fuses Fast features into the Slow pathway; takes and returns ``[slow, fast]``.

    The Fast features (alpha times the frames) are brought to the Slow frame
    rate and concatenated after the Slow channels (or added, for
    ``"ttoc_sum"``). The modes are the paper's fusion ablation:

    * ``"tconv"`` (default): Conv (K, 1, 1) with temporal stride alpha to
      ``channel_ratio`` times the Fast channels, BN, ReLU.
    * ``"tsample"``: every alpha-th Fast frame.
    * ``"ttoc_concat"``: time-to-channel; each group of alpha frames is packed
      into the channels of one frame.
    * ``"ttoc_sum"``: time-to-channel, summed onto the Slow features; needs
      ``alpha * fast channels == slow channels``.

    Args:
        alpha: int. Frame-rate ratio between the Fast and Slow pathways.
        mode: str. One of ``"tconv"``, ``"tsample"``, ``"ttoc_sum"``,
            ``"ttoc_concat"``.
        kernel_size: int. Temporal kernel K of the ``"tconv"`` convolution.
        channel_ratio: int. Output/input channel ratio of the ``"tconv"`` conv.
        **kwargs: Standard layer arguments.

    Examples:
    >>> fuse = LateralFusion(alpha=4, kernel_size=7)
    >>> slow, fast = fuse([keras.ops.zeros((1, 2, 8, 8, 16)),
    ...                    keras.ops.zeros((1, 8, 8, 8, 2))])
    >>> slow.shape, fast.shape
    ((1, 2, 8, 8, 20), (1, 8, 8, 8, 2))
    """

    def __init__(self, alpha, mode="tconv", kernel_size=7, channel_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.alpha = int(alpha)
        self.mode = check_choice(mode, FUSION_MODES, "fusion")
        self.kernel_size = int(kernel_size)
        self.channel_ratio = int(channel_ratio)
        self.conv = None

    def build(self, input_shape):
        slow_shape, fast_shape = input_shape
        fast_channels = fast_shape[-1]
        if self.mode == "tconv":
            self.conv = ConvBN3D(
                self.channel_ratio * fast_channels,
                (self.kernel_size, 1, 1),
                strides=(self.alpha, 1, 1),
                dtype=self.dtype_policy,
                name="conv",
            )
            self.conv.build(fast_shape)
        if self.mode == "ttoc_sum" and self.alpha * fast_channels != slow_shape[-1]:
            raise ValueError(
                f"fusion='ttoc_sum' needs alpha * fast channels == slow channels, "
                f"got alpha={self.alpha} * {fast_channels} != {slow_shape[-1]}"
            )
        slow_frames, fast_frames = slow_shape[1], fast_shape[1]
        if slow_frames is not None and fast_frames is not None:
            if self._fused_frames(fast_frames) != slow_frames:
                raise ValueError(
                    f"Fast pathway has {fast_frames} frames and Slow has "
                    f"{slow_frames}; expected Fast = alpha ({self.alpha}) x Slow"
                )

    def _fused_frames(self, fast_frames):
        if self.mode == "tconv":
            pad = self.kernel_size // 2
            return (fast_frames + 2 * pad - self.kernel_size) // self.alpha + 1
        return fast_frames // self.alpha

    def _time_to_channel(self, fast):
        shape = ops.shape(fast)
        grouped = ops.reshape(
            fast,
            (
                shape[0],
                shape[1] // self.alpha,
                self.alpha,
                shape[2],
                shape[3],
                shape[4],
            ),
        )
        grouped = ops.transpose(grouped, (0, 1, 3, 4, 2, 5))
        return ops.reshape(
            grouped,
            (
                shape[0],
                shape[1] // self.alpha,
                shape[2],
                shape[3],
                self.alpha * shape[4],
            ),
        )

    def call(self, inputs, training=None):
        slow, fast = inputs
        if self.mode == "tconv":
            return [
                ops.concatenate([slow, self.conv(fast, training=training)], -1),
                fast,
            ]
        if self.mode == "tsample":
            return [ops.concatenate([slow, fast[:, :: self.alpha]], -1), fast]
        packed = self._time_to_channel(fast)
        if self.mode == "ttoc_sum":
            return [slow + packed, fast]
        return [ops.concatenate([slow, packed], -1), fast]

    def compute_output_shape(self, input_shape):
        slow_shape, fast_shape = input_shape
        added = fused_channels(
            self.mode, fast_shape[-1], self.alpha, self.channel_ratio
        )
        return [tuple(slow_shape[:-1]) + (slow_shape[-1] + added,), tuple(fast_shape)]

    def flop_counts(self, input_shape):
        """Per-operator FLOPs of the T-conv (nothing for the other modes)."""
        if self.conv is None:
            return Counter()
        return self.conv.flop_counts(input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "mode": self.mode,
                "kernel_size": self.kernel_size,
                "channel_ratio": self.channel_ratio,
            }
        )
        return config
