"""3D convolution + batch normalization (+ ReLU) with PyTorch-style padding."""

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


@register
class ConvBN3D(keras.layers.Layer):
    """Conv3D -> BatchNormalization -> optional ReLU, padded like PyTorch.

    PyTorch pads every side by the same amount (``dilation * (kernel - 1) // 2``),
    while Keras ``padding="same"`` pads asymmetrically when the stride is
    greater than one. This layer zero-pads explicitly and then runs a
    ``"valid"`` convolution, so its output is identical to the PyTorch
    ``Conv3d(..., padding=k // 2, bias=False) -> BatchNorm3d -> ReLU`` unit.

    In inference (``training`` false) the batch norm is folded into the
    convolution (:meth:`folded_kernel_and_bias`), which gives the same result
    up to float rounding and is faster; set the class attribute
    ``ConvBN3D.fuse_for_inference = False`` to run the unfused ops (for
    instance to measure the gain). Training always runs the unfused ops, so
    batch statistics and gradients are those of Conv3D + BatchNormalization.

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

    def call(self, inputs, training=None):
        if training or not self.fuse_for_inference:
            return self._call_unfused(inputs, training)
        return self._call_fused(inputs)

    def _call_unfused(self, inputs, training):
        x = inputs
        if any(self.padding):
            pads = [[0, 0]] + [[p, p] for p in self.padding] + [[0, 0]]
            x = ops.pad(x, pads)
        x = self.conv(x)
        x = self.bn(x, training=training)
        if self.activation:
            x = ops.relu(x)
        return x

    def folded_kernel_and_bias(self):
        """The convolution kernel and bias with the inference BN folded in.

        ``bn(conv(x)) = conv(x, kernel * s) + (beta - mean * s)`` with
        ``s = gamma / sqrt(var + eps)``: one convolution and one bias add
        instead of a convolution and four element-wise passes over the output.
        """
        bn = self.bn
        scale = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
        kernel = self.conv.kernel * scale
        bias = bn.beta - bn.moving_mean * scale
        if self.use_bias:
            bias = bias + self.conv.bias * scale
        return kernel, bias

    def _call_fused(self, inputs):
        kernel, bias = self.folded_kernel_and_bias()
        x = inputs
        # With unit strides and odd kernels Keras "same" padding is symmetric,
        # so the convolution pads for itself and no padded copy is made.
        padding = "same" if self._same_is_symmetric else "valid"
        if padding == "valid" and any(self.padding):
            pads = [[0, 0]] + [[p, p] for p in self.padding] + [[0, 0]]
            x = ops.pad(x, pads)
        x = ops.conv(
            x,
            ops.cast(kernel, x.dtype),
            strides=self.strides,
            padding=padding,
            dilation_rate=self.dilation_rate,
        )
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
