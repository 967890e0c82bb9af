"""3D convolution + batch normalization (+ ReLU) with PyTorch-style padding."""

import contextlib
import math
from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.batch_norm import batch_norm_in_training
from keras_slowfast.layers.conv_formulations import (
    add_bias,
    frame_stacked_conv,
    padded_conv,
    pointwise_conv,
    temporal_conv,
)
from keras_slowfast.layers.conv_gradients import (
    conv_with_fast_gradients,
    has_fast_gradients,
)
from keras_slowfast.layers.utils import (
    as_triple,
    computed_after,
    conv_output_length,
    he_normal_fan_out,
    register,
    tensorflow_or_none,
    tensorflow_runs_eigen,
)
from keras_slowfast.layers.winograd import pays_off, winograd_conv

# PyTorch BatchNorm3d defaults, which PySlowFast and PyTorchVideo keep: eps
# 1e-5, momentum 0.1 (Keras counts momentum the other way: 0.9).
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


@register
class ConvBN3D(keras.layers.Layer):
    """Conv3D -> BatchNormalization -> optional ReLU, padded like PyTorch.

    PyTorch pads every side by the same amount (``dilation * (kernel - 1) // 2``),
    while Keras ``padding="same"`` pads asymmetrically when the stride is
    greater than one. This layer pads symmetrically (Keras ``"same"`` where
    that is symmetric, TensorFlow's explicit padding, or a zero-padded copy:
    ``conv_formulations.padded_conv``), so its output is identical to the
    PyTorch ``Conv3d(..., padding=k // 2, bias=False) -> BatchNorm3d -> ReLU``
    unit.

    In inference (``training`` false) the batch norm is folded into the
    convolution (:meth:`folded_scale_and_bias`: the scale multiplies the
    kernel, or the output where the output is smaller), one convolution and one
    bias add instead of a convolution and four element-wise passes; the bias
    add and ReLU directly follow the 2D convolution or matrix product, so that
    TensorFlow fuses all three into one kernel. It gives the same result up to
    float rounding and is faster; set the class attribute
    ``ConvBN3D.fuse_for_inference = False`` to run the unfused ops (for
    instance to measure the gain). Training always runs the unfused ops, so
    batch statistics and gradients are those of Conv3D + BatchNormalization;
    on TensorFlow the batch norm runs as one fused kernel
    (``batch_norm.batch_norm_in_training``, same result).

    The convolution runs as 2D convolutions where TensorFlow's CPU kernels
    are faster for them, with the same result up to float rounding: an input
    with at most ``FRAME_STACKING_MAX_CHANNELS`` channels (the stems, which
    read the RGB clip) as 2D convolutions over time-stacked frames
    (``conv_formulations.frame_stacked_conv``), a spatial-only or
    temporal-only kernel over at most ``CONV_2D_MAX_CHANNELS`` channels (a
    spatially strided spatial-only kernel over any number) as a 2D
    convolution over frames or over (time, pixels) (``temporal_conv``), and
    a ``(1, 1, 1)`` kernel with unit strides as a matrix product
    (``pointwise_conv``). Training and inference both do this. The kernel
    stays the Conv3D's variable, so weights, checkpoints and the config do not
    change; set the class attribute ``ConvBN3D.conv_as_2d = False`` to run
    every convolution as a Conv3D.

    On TensorFlow, the gradients of unit-stride temporal-only and
    spatial-only units are computed as TensorFlow's CPU kernels run them
    fastest (``conv_gradients``): the input gradient as a forward
    convolution, a temporal kernel's gradient as matrix products. Same
    gradients up to float rounding; ``conv_as_2d = False`` turns this off
    too.

    In inference, the wide unit-stride ``(3, 1, 1)`` and ``(1, 3, 3)`` units
    (at least 128 channels and filters and a static input shape but for the
    batch, ``winograd.pays_off``: in SlowFast R50 the Slow pathway's, from
    res3 on) run Winograd's F(4, 3) along time or height
    (``winograd.winograd_conv``: half the multiply-adds, same result up to
    float rounding) where the class attribute
    ``ConvBN3D.winograd_for_inference`` says: ``"auto"`` (the default) in
    TensorFlow graphs (``tf.function``, ``predict``, SavedModel) computed on
    the CPU by TensorFlow's Eigen kernels (``utils.tensorflow_runs_eigen``:
    its default on CPUs without AVX512-VNNI, such as AVX2-only ones; with
    oneDNN or a GPU the direct convolution stays, and eagerly its extra ops
    cost more than they save), ``True`` on every backend and eagerly,
    ``False`` never. The choice is made when a graph is traced, so a
    SavedModel keeps the form of the machine that exported it. ``conv_as_2d
    = False`` turns it off as well; ``without_winograd()`` for a block of
    code (the TFLite and ONNX exports trace the direct form).

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
    winograd_for_inference = "auto"

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
        # How the convolution runs (class docstring).
        self._frames_per_conv, self._temporal_2d = self._formulation(input_shape[-1])
        # Strided pointwise units (the stage shortcuts) stay Conv3D: slicing
        # every second pixel first costs more than the Conv3D saves.
        self._pointwise = self.kernel_size == (1, 1, 1) and self.strides == (1, 1, 1)
        # Unit-stride factorized units get gradients that TensorFlow's CPU
        # kernels compute faster (conv_gradients); not the frame-stacked
        # ones, whose forward pass is laid out for their few input channels.
        self._fast_gradients = (
            has_fast_gradients(self.kernel_size, self.strides, self.dilation_rate)
            and self._frames_per_conv <= 1
        )

    def _formulation(self, channels):
        """How this unit's convolution of ``channels`` input channels runs.

        Returns ``(frames_per_conv, temporal_2d)``: the output frames per 2D
        convolution of ``frame_stacked_conv`` (0: not frame-stacked), and
        whether it runs as ``temporal_conv``. Neither with unknown channels.
        """
        if channels is None:
            return 0, False
        kt, kh, kw = self.kernel_size
        unit_time_steps = self.strides[0] == 1 and self.dilation_rate[0] == 1
        if unit_time_steps and channels <= FRAME_STACKING_MAX_CHANNELS:
            return math.ceil(FRAME_STACKING_OUTPUT_CHANNELS / self.filters), False
        spatial_only = unit_time_steps and kt == 1 and kh * kw > 1
        # A strided spatial unit as Conv3D convolves a padded copy (3D
        # convolutions take no explicit padding), on which TensorFlow's
        # graph optimizer fails in oneDNN training graphs ("remapper
        # failed ... missing node .../Pad"); as a 2D convolution it pads
        # for itself.
        strided = self.strides[1:] != (1, 1)
        frames_per_conv = int(
            spatial_only and (channels <= CONV_2D_MAX_CHANNELS or strided)
        )
        temporal_2d = (
            channels <= CONV_2D_MAX_CHANNELS
            and kt > 1
            and kh == kw == 1
            and self.strides[1:] == (1, 1)
        )
        return frames_per_conv, temporal_2d

    def call(self, inputs, training=None, frame_wise=None):
        """Runs the unit; ``frame_wise`` is an optional per-frame epilogue.

        ``frame_wise`` maps a batch of frames ``(n, height, width, filters)``
        to frames, treating every channel alike and on its own (the stem's
        max pool). Frame-stacked units apply it before unstacking their output
        frames, so that the unstacking moves its smaller output.
        """
        if training or not self.fuse_for_inference:
            x = self._call_unfused(inputs, training)
            return x if frame_wise is None else self._per_frame(frame_wise, x)
        return self._call_fused(inputs, frame_wise)

    @staticmethod
    def _per_frame(frame_wise, x):
        _, frames, height, width, channels = ops.shape(x)
        y = frame_wise(ops.reshape(x, (-1, height, width, channels)))
        _, height, width, channels = ops.shape(y)
        return ops.reshape(y, (-1, frames, height, width, channels))

    def _convolve(self, inputs, kernel, epilogue=None, frame_wise=None):
        """The convolution of ``inputs`` with PyTorch padding (no bias).

        ``epilogue(y, copies)`` is applied to the raw output of the operation
        that computes it (``conv_formulations``), then ``frame_wise``.
        """
        kernel = ops.cast(kernel, inputs.dtype)
        if None in inputs.shape[2:4] and (epilogue or frame_wise):
            # With a free frame size (detectors exported with any image
            # size), the epilogues run on the unit's 5D output: tf2onnx
            # (1.17) mislabels dimensions when reshaping an op's output by
            # its run-time shape after an element-wise op. Only the fusion is
            # lost.
            y = self._convolve(inputs, kernel)
            y = y if epilogue is None else epilogue(y, 1)
            return y if frame_wise is None else self._per_frame(frame_wise, y)
        if (
            self.conv_as_2d
            and self._fast_gradients
            and epilogue is None
            and inputs.shape[1]
            and tensorflow_or_none() is not None
        ):
            y = conv_with_fast_gradients(inputs, kernel, self._factorized_conv)
            return y if frame_wise is None else self._per_frame(frame_wise, y)
        if epilogue is not None and self._runs_winograd(inputs):
            y = winograd_conv(inputs, kernel, epilogue)
            return y if frame_wise is None else self._per_frame(frame_wise, y)
        formulation = (self._frames_per_conv, self._temporal_2d)
        return self._formulated_conv(inputs, kernel, formulation, epilogue, frame_wise)

    def _runs_winograd(self, inputs):
        """Whether the fused inference convolution of ``inputs`` runs F(4, 3).

        As the class docstring says, where ``winograd.pays_off`` for the
        unit and the input's shape, over float32 or float64 inputs.
        """
        setting = self.winograd_for_inference
        if setting == "auto":
            tf = tensorflow_or_none()
            setting = (
                tf is not None
                and not tf.executing_eagerly()
                and tensorflow_runs_eigen()
            )
        return (
            bool(setting)
            and self.conv_as_2d
            and pays_off(
                self.kernel_size,
                self.strides,
                self.dilation_rate,
                inputs.shape,
                self.filters,
            )
            and keras.backend.standardize_dtype(inputs.dtype) in ("float32", "float64")
        )

    def _formulated_conv(self, inputs, kernel, formulation, epilogue, frame_wise):
        """``_convolve`` run as ``formulation`` (``_formulation``) says."""
        frames_per_conv, temporal_2d = formulation
        # Frame stacking is laid out for a static number of frames.
        if self.conv_as_2d and frames_per_conv and inputs.shape[1]:
            return frame_stacked_conv(
                inputs,
                kernel,
                frames_per_conv,
                strides=self.strides[1:],
                dilation_rate=self.dilation_rate[1:],
                padding=self.padding,
                epilogue=epilogue,
                frame_wise=frame_wise,
            )
        if self.conv_as_2d and self._pointwise:
            y = pointwise_conv(inputs, kernel, epilogue)
        elif self.conv_as_2d and temporal_2d:
            y = temporal_conv(
                inputs,
                kernel,
                self.strides[0],
                self.dilation_rate[0],
                self.padding[0],
                epilogue,
            )
        else:
            y = padded_conv(
                inputs, kernel, self.strides, self.padding, self.dilation_rate
            )
            if epilogue is not None:
                y = epilogue(y, 1)
        return y if frame_wise is None else self._per_frame(frame_wise, y)

    def _factorized_conv(self, inputs, kernel):
        """This unit's convolution of ``inputs`` with any number of channels.

        Run as ``_formulation`` says for that number of channels: what
        ``conv_gradients`` runs the forward pass and the input gradient (over
        the output gradient's channels) with.
        """
        formulation = self._formulation(inputs.shape[-1])
        return self._formulated_conv(inputs, kernel, formulation, None, None)

    def _call_unfused(self, inputs, training):
        x = self._convolve(inputs, self.conv.kernel)
        if self.use_bias:
            x = x + ops.cast(self.conv.bias, x.dtype)
        if training:
            x = batch_norm_in_training(self.bn, x)
        else:
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

    def _call_fused(self, inputs, frame_wise=None):
        # The scale goes where it costs fewer multiplies: into the kernel, or,
        # where the output is smaller than the kernel (deep stages at small
        # batches: 7x7 maps, 1M-weight kernels), onto the output. The kernel
        # is rescaled on every call, as the BN statistics are variables.
        scale, bias = self.folded_scale_and_bias()
        # Read (then scaled, transformed) once the input is ready, not at the
        # start of the call: the kernel's copies live only around this
        # unit's convolution (utils.computed_after).
        kernel = computed_after(inputs, self.conv.kernel)
        output_size = math.prod(d or 1 for d in self.compute_output_shape(inputs.shape))
        scale_output = output_size < math.prod(kernel.shape)
        if not scale_output:
            # In the kernel's dtype (the compute dtype under mixed precision),
            # as the Keras variable's own product was.
            kernel = kernel * ops.cast(scale, kernel.dtype)

        def epilogue(y, copies):
            # Bias (and scale) right after the convolution, so that the graph
            # optimizer can fuse them (conv_formulations); ``copies`` runs of
            # the filters share the last axis.
            if scale_output:
                y = y * ops.cast(ops.tile(scale, (copies,)), y.dtype)
            y = add_bias(y, ops.tile(bias, (copies,)) if copies > 1 else bias)
            return ops.relu(y) if self.activation else y

        return self._convolve(inputs, kernel, epilogue, frame_wise)

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


@contextlib.contextmanager
def without_winograd():
    """Within the block, ``ConvBN3D`` units trace no Winograd convolutions.

    For graphs run by other runtimes than TensorFlow's CPU kernels (TFLite,
    ONNX), for which the Winograd form was not chosen. Restores the class setting
    on exit.
    """
    setting = ConvBN3D.winograd_for_inference
    ConvBN3D.winograd_for_inference = False
    try:
        yield
    finally:
        ConvBN3D.winograd_for_inference = setting
