"""3D convolution + batch normalization (+ ReLU) with PyTorch-style padding."""

import math
from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.utils import (
    as_triple,
    conv_output_length,
    he_normal_fan_out,
    register,
)

# PyTorch BatchNorm defaults (eps 1e-5, momentum 0.1 == Keras momentum 0.9);
# REFERENCE "BatchNorm".
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

# Convolutions over at most this many input channels (the RGB clip the stems
# read) run as frame-stacked 2D convolutions (``frame_stacked_conv``).
FRAME_STACKING_MAX_CHANNELS = 4
# Output channels each frame-stacked 2D convolution computes: enough that the
# CPU kernels' register blocks are full (oneDNN 8 or 16 lanes, Eigen's 24-row
# micro-kernel), so the 8-filter Fast stem computes 4 frames at once.
FRAME_STACKING_OUTPUT_CHANNELS = 32
# Spatial-only (1, kh, kw) and temporal-only (kt, 1, 1) convolutions over at
# most this many input channels run as 2D convolutions. TensorFlow's Eigen
# Conv3D backward is slow on these (20-30x slower than PyTorch for the strided
# Fast-pathway units) while its Conv2D kernels are not; with oneDNN both are
# alike. Above it (the Slow pathway's res4/res5 units) Conv3D was as fast or
# faster in both (benchmarks/bench_layers.py).
CONV_2D_MAX_CHANNELS = 256


def frame_stacked_conv(
    inputs,
    kernel,
    frames_per_conv,
    strides=(1, 1),
    dilation_rate=(1, 1),
    padding="valid",
):
    """A 3D convolution with temporal stride 1, as one 2D convolution.

    CPU convolution kernels are slow on inputs with few channels: TensorFlow's
    Eigen kernels (its default on CPUs without AVX512-VNNI, such as AVX2-only
    ones) run the Conv3D of the 3-channel clip about 8 times slower than
    PyTorch, and its kernel gradient over 100 times slower. Here each 2D
    convolution computes ``frames_per_conv`` consecutive output frames: the
    ``kt + frames_per_conv - 1`` input frames they read are stacked on the
    channel axis, and the kernel is laid out block-Toeplitz over (input frame,
    output frame), with zeros where an output frame does not read an input
    frame. More input channels and more output channels per 2D convolution
    keep the CPU kernels busy; the zeros cost ``(kt + frames_per_conv - 1) /
    kt`` times the multiply-adds.

    Args:
        inputs: ``(batch, frames, height, width, channels)``, already padded;
            ``frames`` must be static.
        kernel: ``(kt, kh, kw, channels, filters)`` Conv3D kernel.
        frames_per_conv: int. Output frames per 2D convolution position.
        strides: 2 ints. Spatial strides.
        dilation_rate: 2 ints. Spatial dilation.
        padding: ``"valid"``, or ``"same"`` (spatial only: time is never
            padded here).

    Returns:
        ``(batch, frames - kt + 1, out_height, out_width, filters)``, equal to
        ``ops.conv(inputs, kernel, (1, *strides), padding, dilation_rate=(1,
        *dilation_rate))`` up to float rounding (``padding="same"`` with
        ``kt == 1``).
    """
    kt, kh, kw, channels, filters = kernel.shape
    out_frames = inputs.shape[1] - kt + 1
    per_conv = min(int(frames_per_conv), out_frames)
    groups = math.ceil(out_frames / per_conv)
    span = kt + per_conv - 1
    missing = groups * per_conv - out_frames
    x = inputs
    if missing:
        x = ops.pad(x, [[0, 0], [0, missing], [0, 0], [0, 0], [0, 0]])
    _, _, height, width, _ = ops.shape(x)
    if span > 1:
        # (batch, groups * span, ...) -> (batch * groups, h, w, span * channels)
        index = [g * per_conv + j for g in range(groups) for j in range(span)]
        x = ops.take(x, index, axis=1)
        x = ops.reshape(x, (-1, groups, span, height, width, channels))
        x = ops.transpose(x, (0, 1, 3, 4, 2, 5))
    x = ops.reshape(x, (-1, height, width, span * channels))
    # Output frame o of a group reads stacked frames o .. o + kt - 1.
    toeplitz = ops.stack(
        [
            ops.pad(kernel, [[o, per_conv - 1 - o], [0, 0], [0, 0], [0, 0], [0, 0]])
            for o in range(per_conv)
        ],
        axis=4,
    )  # (span, kh, kw, channels, per_conv, filters)
    toeplitz = ops.reshape(
        ops.transpose(toeplitz, (1, 2, 0, 3, 4, 5)),
        (kh, kw, span * channels, per_conv * filters),
    )
    y = ops.conv(
        x, toeplitz, strides=strides, padding=padding, dilation_rate=dilation_rate
    )
    _, out_height, out_width, _ = ops.shape(y)
    y = ops.reshape(y, (-1, groups, out_height, out_width, per_conv, filters))
    if per_conv > 1:
        y = ops.transpose(y, (0, 1, 4, 2, 3, 5))
    y = ops.reshape(y, (-1, groups * per_conv, out_height, out_width, filters))
    return y[:, :out_frames] if missing else y


def temporal_conv(inputs, kernel, stride=1, dilation_rate=1):
    """A "valid" ``(kt, 1, 1)`` 3D convolution, as a 2D convolution.

    A 1x1 spatial kernel convolves each pixel's time series on its own, so the
    clip reshaped to ``(batch, frames, height * width, channels)`` is an image
    the ``(kt, 1)`` kernel convolves the same way.

    Args:
        inputs: ``(batch, frames, height, width, channels)``, already padded.
        kernel: ``(kt, 1, 1, channels, filters)`` Conv3D kernel.
        stride: int. Temporal stride.
        dilation_rate: int. Temporal dilation.

    Returns:
        ``(batch, out_frames, height, width, filters)``.
    """
    kt, _, _, channels, filters = kernel.shape
    _, frames, height, width, _ = ops.shape(inputs)
    x = ops.reshape(inputs, (-1, frames, height * width, channels))
    y = ops.conv(
        x,
        ops.reshape(kernel, (kt, 1, channels, filters)),
        strides=(stride, 1),
        padding="valid",
        dilation_rate=(dilation_rate, 1),
    )
    return ops.reshape(y, (-1, ops.shape(y)[1], height, width, filters))


def pointwise_conv(inputs, kernel):
    """A ``(1, 1, 1)`` 3D convolution with unit strides, as one matrix product.

    Each output pixel is the input pixel's channel vector times the
    ``(channels, filters)`` kernel matrix. TensorFlow's Eigen kernels (its CPU
    default without AVX512-VNNI) run this up to 3x faster as ``MatMul`` than
    as ``Conv3D`` (benchmarks/bench_layers.py), and its gradients are two
    matrix products.

    Args:
        inputs: ``(batch, frames, height, width, channels)``.
        kernel: ``(1, 1, 1, channels, filters)`` Conv3D kernel.

    Returns:
        ``(batch, frames, height, width, filters)``.
    """
    channels, filters = kernel.shape[-2:]
    _, frames, height, width, _ = ops.shape(inputs)
    y = ops.matmul(
        ops.reshape(inputs, (-1, channels)), ops.reshape(kernel, (channels, filters))
    )
    return ops.reshape(y, (-1, frames, height, width, filters))


@register
class ConvBN3D(keras.layers.Layer):
    """Conv3D -> BatchNormalization -> optional ReLU, padded like PyTorch.

    PyTorch pads every side by the same amount (``dilation * (kernel - 1) // 2``),
    while Keras ``padding="same"`` pads asymmetrically when the stride is
    greater than one. This layer zero-pads explicitly and then runs a
    ``"valid"`` convolution, so its output is identical to the PyTorch
    ``Conv3d(..., padding=k // 2, bias=False) -> BatchNorm3d -> ReLU`` unit.

    In inference (``training`` false) the batch norm is folded into the
    convolution (:meth:`folded_scale_and_bias`: the scale multiplies the
    kernel, or the output where the output is smaller), one convolution and one
    bias add instead of a convolution and four element-wise passes; it gives
    the same result up to float rounding and is faster; set the class attribute
    ``ConvBN3D.fuse_for_inference = False`` to run the unfused ops (for
    instance to measure the gain). Training always runs the unfused ops, so
    batch statistics and gradients are those of Conv3D + BatchNormalization.

    The convolution runs as 2D convolutions where TensorFlow's CPU kernels
    are faster for them, with the same result up to float rounding: an input
    with at most ``FRAME_STACKING_MAX_CHANNELS`` channels (the stems, which
    read the RGB clip) as 2D convolutions over time-stacked frames
    (:func:`frame_stacked_conv`), a spatial-only or temporal-only kernel over
    at most ``CONV_2D_MAX_CHANNELS`` channels as a 2D convolution over frames
    or over (time, pixels) (:func:`temporal_conv`), and a ``(1, 1, 1)`` kernel
    with unit strides as a matrix product (:func:`pointwise_conv`). Training
    and inference both do this. The kernel stays the Conv3D's variable, so
    weights, checkpoints and the config do not change; set the class attribute
    ``ConvBN3D.conv_as_2d = False`` to run every convolution as a Conv3D.

    Args:
        filters: int. Number of output channels.
        kernel_size: int or tuple of 3 ints. ``(time, height, width)`` kernel.
        strides: int or tuple of 3 ints. Convolution strides.
        dilation_rate: int or tuple of 3 ints. Convolution dilation.
        activation: bool. Whether a ReLU follows the batch normalization.
        zero_init_gamma: bool. Initialise the BN scale to zero (used for the
            last BN of each residual branch, so blocks start as identities).
        use_bias: bool. Whether the convolution has a bias.
        **kwargs: Standard layer arguments (``name``, ``dtype``...).

    Examples:
    >>> unit = ConvBN3D(16, (3, 3, 3), strides=(1, 2, 2))
    >>> unit(keras.ops.zeros((1, 4, 8, 8, 3))).shape
    (1, 4, 4, 4, 16)
    """

    fuse_for_inference = True
    conv_as_2d = True

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        dilation_rate=1,
        activation=True,
        zero_init_gamma=False,
        use_bias=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = as_triple(kernel_size, "kernel_size")
        self.strides = as_triple(strides, "strides")
        self.dilation_rate = as_triple(dilation_rate, "dilation_rate")
        self.activation = bool(activation)
        self.zero_init_gamma = bool(zero_init_gamma)
        self.use_bias = bool(use_bias)
        self.padding = tuple(
            d * (k - 1) // 2
            for k, d in zip(self.kernel_size, self.dilation_rate, strict=True)
        )
        self._same_is_symmetric = self.strides == (1, 1, 1) and all(
            d * (k - 1) % 2 == 0
            for k, d in zip(self.kernel_size, self.dilation_rate, strict=True)
        )
        self.conv = keras.layers.Conv3D(
            self.filters,
            self.kernel_size,
            strides=self.strides,
            dilation_rate=self.dilation_rate,
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=he_normal_fan_out(),
            dtype=self.dtype_policy,
            name="conv",
        )
        self.bn = keras.layers.BatchNormalization(
            epsilon=BN_EPSILON,
            momentum=BN_MOMENTUM,
            gamma_initializer="zeros" if self.zero_init_gamma else "ones",
            dtype=self.dtype_policy,
            name="bn",
        )

    def _padded_shape(self, input_shape):
        shape = list(input_shape)
        for axis, pad in zip((1, 2, 3), self.padding, strict=True):
            if shape[axis] is not None:
                shape[axis] += 2 * pad
        return tuple(shape)

    def build(self, input_shape):
        padded = self._padded_shape(input_shape)
        self.conv.build(padded)
        self.bn.build(self.conv.compute_output_shape(padded))
        # How the convolution runs (class docstring): frames per 2D
        # convolution of frame_stacked_conv (0: not stacked), or temporal_conv.
        channels = input_shape[-1]
        kt, kh, kw = self.kernel_size
        self._frames_per_conv = 0
        self._temporal_2d = False
        # Strided pointwise units (the stage shortcuts) stay Conv3D: slicing
        # every second pixel first costs more than the Conv3D saves.
        self._pointwise = self.kernel_size == (1, 1, 1) and self.strides == (1, 1, 1)
        if channels is None:
            return
        unit_time_steps = self.strides[0] == 1 and self.dilation_rate[0] == 1
        if unit_time_steps and channels <= FRAME_STACKING_MAX_CHANNELS:
            self._frames_per_conv = math.ceil(
                FRAME_STACKING_OUTPUT_CHANNELS / self.filters
            )
        elif channels <= CONV_2D_MAX_CHANNELS:
            if unit_time_steps and kt == 1 and kh * kw > 1:
                self._frames_per_conv = 1
            self._temporal_2d = kt > 1 and kh == kw == 1 and self.strides[1:] == (1, 1)

    def call(self, inputs, training=None):
        if training or not self.fuse_for_inference:
            return self._call_unfused(inputs, training)
        return self._call_fused(inputs)

    def _pad(self, inputs):
        if not any(self.padding):
            return inputs
        return ops.pad(inputs, [[0, 0]] + [[p, p] for p in self.padding] + [[0, 0]])

    def _convolve(self, inputs, kernel):
        """The convolution of ``inputs`` with PyTorch padding (no bias)."""
        kernel = ops.cast(kernel, inputs.dtype)
        if self.conv_as_2d and self._pointwise:
            return pointwise_conv(inputs, kernel)
        # Frame stacking is laid out for a static number of frames.
        if self.conv_as_2d and self._frames_per_conv and inputs.shape[1]:
            # A frame-wise kernel with symmetric "same" padding pads for
            # itself, without a padded copy of the input kept for backprop.
            same = self._same_is_symmetric and self.kernel_size[0] == 1
            return frame_stacked_conv(
                inputs if same else self._pad(inputs),
                kernel,
                self._frames_per_conv,
                strides=self.strides[1:],
                dilation_rate=self.dilation_rate[1:],
                padding="same" if same else "valid",
            )
        if self.conv_as_2d and self._temporal_2d:
            return temporal_conv(
                self._pad(inputs), kernel, self.strides[0], self.dilation_rate[0]
            )
        # With unit strides and odd kernels Keras "same" padding is symmetric,
        # so the convolution pads for itself: no padded copy.
        padding = "same" if self._same_is_symmetric else "valid"
        return ops.conv(
            inputs if padding == "same" else self._pad(inputs),
            kernel,
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
        )

    def _call_unfused(self, inputs, training):
        x = self._convolve(inputs, self.conv.kernel)
        if self.use_bias:
            x = x + ops.cast(self.conv.bias, x.dtype)
        x = self.bn(x, training=training)
        if self.activation:
            x = ops.relu(x)
        return x

    def folded_scale_and_bias(self):
        """The inference BN as a per-filter scale and bias of the convolution.

        ``bn(conv(x)) = conv(x) * s + (beta - mean * s)`` with
        ``s = gamma / sqrt(var + eps)`` (plus ``bias * s`` with a conv bias).
        """
        bn = self.bn
        scale = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
        bias = bn.beta - bn.moving_mean * scale
        if self.use_bias:
            bias = bias + self.conv.bias * scale
        return scale, bias

    def _call_fused(self, inputs):
        # The scale goes where it costs fewer multiplies: into the kernel, or,
        # where the output is smaller than the kernel (deep stages at small
        # batches: 7x7 maps, 1M-weight kernels), onto the output. The kernel
        # is rescaled on every call, as the BN statistics are variables.
        scale, bias = self.folded_scale_and_bias()
        kernel = self.conv.kernel
        output_size = math.prod(d or 1 for d in self.compute_output_shape(inputs.shape))
        if output_size < math.prod(kernel.shape):
            x = self._convolve(inputs, kernel) * ops.cast(scale, inputs.dtype)
        else:
            x = self._convolve(inputs, kernel * scale)
        x = x + ops.cast(bias, x.dtype)
        if self.activation:
            x = ops.relu(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = [input_shape[0]]
        for axis in range(3):
            shape.append(
                conv_output_length(
                    input_shape[axis + 1],
                    self.kernel_size[axis],
                    self.strides[axis],
                    self.padding[axis],
                    self.dilation_rate[axis],
                )
            )
        return tuple(shape) + (self.filters,)

    def flop_counts(self, input_shape):
        """Multiply-accumulates per operator for one clip of ``input_shape``.

        fvcore convention: the conv counts ``outputs x fan-in`` MACs, the
        affine inference batch norm two FLOPs per output element.
        """
        out = self.compute_output_shape(input_shape)
        elements = out[1] * out[2] * out[3] * self.filters
        kt, kh, kw = self.kernel_size
        return Counter(
            conv=elements * input_shape[-1] * kt * kh * kw, batch_norm=2 * elements
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
                "activation": self.activation,
                "zero_init_gamma": self.zero_init_gamma,
                "use_bias": self.use_bias,
            }
        )
        return config
