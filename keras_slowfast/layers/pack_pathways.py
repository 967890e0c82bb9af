"""Splits one video clip into the Slow and Fast pathway inputs."""

import keras
import numpy as np
from keras import ops

from keras_slowfast.layers.utils import check_choice, register

FAST_INPUTS = ("rgb", "gray", "diff")
# ITU-R BT.601 luma weights, for the gray-scale Fast input ablation.
_LUMA = (0.299, 0.587, 0.114)


def slow_frame_indices(num_frames, alpha):
    """Indices of the Slow frames in a clip of ``num_frames`` (Fast) frames.

    ``floor(linspace(0, num_frames - 1, num_frames // alpha))``, as PySlowFast
    ``pack_pathway_output`` and PyTorchVideo ``PackPathway`` compute them; for
    32 frames and alpha 4 this is [0, 4, 8, 13, 17, 22, 26, 31], not ``[::4]``.
    """
    check_frames(num_frames, alpha)
    return np.floor(np.linspace(0, num_frames - 1, num_frames // alpha)).astype("int32")


def check_frames(num_frames, alpha):
    """Raises a ValueError unless ``num_frames`` is a positive multiple of alpha."""
    if alpha < 1:
        raise ValueError(f"alpha={alpha} must be a positive integer")
    if num_frames is None or num_frames < alpha or num_frames % alpha:
        raise ValueError(
            f"num_frames={num_frames} must be a positive multiple of alpha={alpha}"
        )


@register
class PackPathways(keras.layers.Layer):
    """Turns a clip ``(batch, frames, H, W, C)`` into ``[slow, fast]`` inputs.

    The Fast pathway sees every frame; the Slow pathway sees ``frames // alpha``
    frames chosen by :func:`slow_frame_indices`. ``fast_input`` selects the
    paper's Fast-input ablations: ``"rgb"`` (default), ``"gray"`` (one
    luminance channel computed from the normalized RGB) or ``"diff"`` (each
    frame minus the previous one; the first frame's difference is zero).

    Args:
        alpha: int. Frame-rate ratio between the Fast and Slow pathways.
        fast_input: str. ``"rgb"``, ``"gray"`` or ``"diff"``.
        **kwargs: Standard layer arguments.

    Examples:
    >>> slow, fast = PackPathways(alpha=4)(keras.ops.zeros((1, 32, 8, 8, 3)))
    >>> slow.shape, fast.shape
    ((1, 8, 8, 8, 3), (1, 32, 8, 8, 3))
    """

    def __init__(self, alpha, fast_input="rgb", **kwargs):
        super().__init__(**kwargs)
        self.alpha = int(alpha)
        self.fast_input = check_choice(fast_input, FAST_INPUTS, "fast_input")

    def build(self, input_shape):
        check_frames(input_shape[1], self.alpha)

    def fast_view(self, clip):
        """Applies the ``fast_input`` transform to a clip."""
        if self.fast_input == "gray":
            weights = ops.convert_to_tensor(np.array(_LUMA, "float32"), clip.dtype)
            return ops.sum(clip * weights, axis=-1, keepdims=True)
        if self.fast_input == "diff":
            first = ops.zeros_like(clip[:, :1])
            return ops.concatenate([first, clip[:, 1:] - clip[:, :-1]], axis=1)
        return clip

    def call(self, inputs):
        indices = slow_frame_indices(inputs.shape[1], self.alpha)
        slow = ops.take(inputs, indices, axis=1)
        return [slow, self.fast_view(inputs)]

    def compute_output_shape(self, input_shape):
        b, t, h, w, c = input_shape
        fast_channels = 1 if self.fast_input == "gray" else c
        return [(b, t // self.alpha, h, w, c), (b, t, h, w, fast_channels)]

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "fast_input": self.fast_input})
        return config
