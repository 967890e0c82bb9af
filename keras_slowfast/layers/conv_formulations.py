"""3D convolutions computed as the 2D operations CPU kernels run fast.

Each function here gives the result of one 3D convolution (PyTorch-style
symmetric zero padding, no bias) up to float rounding, from the Conv3D kernel
``(kt, kh, kw, channels, filters)`` as it is stored, so weights, checkpoints
and configs do not depend on how the convolution runs. ``ConvBN3D`` picks one
per unit (benchmarks/bench_layers.py shows why).

Each one also takes an ``epilogue``: a channel-wise element-wise function (the
folded batch norm's scale and bias, the ReLU) applied to the raw output of
the 2D operation, before any reshape. TensorFlow's graph optimizer fuses a
``Conv2D`` or ``MatMul`` directly followed by ``BiasAdd`` (and ``Relu``) into
one kernel that writes the output once; a reshape in between prevents it.
The epilogue is called as ``epilogue(y, copies)``: the last axis of ``y``
holds ``copies`` consecutive runs of the ``filters`` output channels.
"""

import math

from keras import ops

from keras_slowfast.layers.utils import tensorflow_or_none

# TensorFlow's CPU Conv2D pads for itself (explicit padding) at least as fast
# as it convolves a padded copy once the input has this many channels; below
# it (the RGB clip of the Slow stem) the padded copy was faster
# (benchmarks/bench_layers.py, AVX2).
EXPLICIT_PADDING_MIN_CHANNELS = 16


def add_bias(x, bias):
    """``x + bias`` over the last axis, as the op the graph optimizer fuses.

    On TensorFlow this is ``BiasAdd``, which grappler folds into the
    preceding ``Conv2D``/``MatMul`` (with a following ``Relu``) as
    ``_FusedConv2D``/``_FusedMatMul``; a broadcast ``AddV2`` stays a separate
    pass over the output.
    """
    bias = ops.cast(bias, x.dtype)
    tf = tensorflow_or_none()
    if tf is not None:
        return tf.nn.bias_add(x, bias)
    return x + bias


def _same_pads_so(kernel_size, strides, padding, dilation_rate):
    """Whether Keras ``"same"`` pads exactly ``padding`` on both sides.

    It does with unit strides where the total padding is symmetric.
    """
    return all(s == 1 for s in strides) and all(
        d * (k - 1) == 2 * p
        for k, d, p in zip(kernel_size, dilation_rate, padding, strict=True)
    )


def _pads_itself(channels, kernel_size, strides, padding, dilation_rate):
    """Whether ``padded_conv`` pads without a padded copy of its input.

    Keras ``"same"`` pads so where it can (``_same_pads_so``); otherwise
    TensorFlow's 2D convolution takes explicit padding over at least
    ``EXPLICIT_PADDING_MIN_CHANNELS`` input channels (its CPU backward has no
    dilation, so dilated units pad first).
    """
    return _same_pads_so(kernel_size, strides, padding, dilation_rate) or (
        tensorflow_or_none() is not None
        and len(padding) == 2
        and tuple(dilation_rate) == (1, 1)
        and channels >= EXPLICIT_PADDING_MIN_CHANNELS
    )


def padded_conv(inputs, kernel, strides, padding, dilation_rate):
    """``ops.conv`` with ``padding[i]`` zeros on both sides of spatial axis i.

    Avoids materializing a padded copy of the input where it can
    (``_pads_itself``): a padded copy costs a pass over the input and is kept
    for the backward pass.

    Args:
        inputs: ``(batch, *spatial, channels)``.
        kernel: ``(*kernel_size, channels, filters)``.
        strides: ints, one per spatial axis.
        padding: ints, one per spatial axis.
        dilation_rate: ints, one per spatial axis.
    """
    strides, padding = tuple(strides), tuple(padding)
    dilation_rate = tuple(dilation_rate)
    if not any(padding):
        return ops.conv(inputs, kernel, strides, "valid", dilation_rate=dilation_rate)
    kernel_size = kernel.shape[: len(padding)]
    if not _pads_itself(inputs.shape[-1], kernel_size, strides, padding, dilation_rate):
        return ops.conv(
            ops.pad(inputs, [[0, 0], *([p, p] for p in padding), [0, 0]]),
            kernel,
            strides,
            "valid",
            dilation_rate=dilation_rate,
        )
    if _same_pads_so(kernel_size, strides, padding, dilation_rate):
        return ops.conv(inputs, kernel, strides, "same", dilation_rate=dilation_rate)
    explicit = [[0, 0], *([p, p] for p in padding), [0, 0]]
    return tensorflow_or_none().nn.conv2d(inputs, kernel, strides, explicit)


def _identity(y, copies):
    return y


def frame_stacked_conv(
    inputs,
    kernel,
    frames_per_conv,
    strides=(1, 1),
    dilation_rate=(1, 1),
    padding=(0, 0, 0),
    epilogue=None,
    frame_wise=None,
):
    """A 3D convolution with temporal stride 1, as 2D convolutions.

    CPU convolution kernels are slow on inputs with few channels: TensorFlow's
    Eigen kernels (its default on CPUs without AVX512-VNNI, such as AVX2-only
    ones) run the Conv3D of the 3-channel clip about 8 times slower than
    PyTorch, and its kernel gradient over 100 times slower. Here each 2D
    convolution position computes ``frames_per_conv`` (P) consecutive output
    frames from the ``span = kt + P - 1`` input frames they read, stacked on
    the channel axis, with the kernel laid out block-Toeplitz over (input
    frame, output frame): zeros where an output frame does not read an input
    frame. More input channels and more output channels per 2D convolution
    keep the CPU kernels busy; the zeros cost ``span / kt`` times the
    multiply-adds.

    The input frames are cut into blocks of P, each block's frames moved to
    the channel axis by one transpose. A span covers ``blocks_per_span``
    consecutive blocks; rather than concatenating them into one stacked copy
    (a slow copy in TensorFlow's CPU kernels, of several times the clip), it
    runs one 2D convolution per block of the span, over the blocks laid out
    block-major so that each convolution reads a contiguous slice of them
    (no copy), and sums their outputs.

    Args:
        inputs: ``(batch, frames, height, width, channels)``; ``frames`` must
            be static.
        kernel: ``(kt, kh, kw, channels, filters)`` Conv3D kernel.
        frames_per_conv: int. Output frames per 2D convolution position.
        strides: 2 ints. Spatial strides.
        dilation_rate: 2 ints. Spatial dilation.
        padding: 3 ints. Zeros on both sides of (time, height, width).
        epilogue: optional channel-wise function of the 2D convolutions'
            output (module docstring).
        frame_wise: optional function of a batch of frames ``(n, h, w, c)``
            that treats every channel alike and on its own (pooling), applied
            after the epilogue and before the output frames are unstacked, so
            that the unstacking moves its smaller output.

    Returns:
        ``(batch, out_frames, out_height, out_width, filters)`` (or what
        ``frame_wise`` makes of each frame), equal to the Conv3D with stride
        ``(1, *strides)`` of the zero-padded input up to float rounding.
    """
    epilogue = epilogue or _identity
    kt, kh, kw, channels, filters = kernel.shape
    pad_t, spatial_padding = padding[0], tuple(padding[1:])
    out_frames = inputs.shape[1] + 2 * pad_t - kt + 1
    per_conv = min(int(frames_per_conv), out_frames)
    groups = math.ceil(out_frames / per_conv)
    blocks_per_span = math.ceil((kt + per_conv - 1) / per_conv)
    blocks = groups + blocks_per_span - 1
    # Zero frames: the temporal padding, and whole blocks at the end.
    tail = blocks * per_conv - inputs.shape[1] - pad_t
    block_major = blocks_per_span > 1
    # Where several convolutions read each frame and would each pad a copy
    # of it, the frames are padded in space once, with the temporal padding.
    space = (0, 0)
    if (
        block_major
        and any(spatial_padding)
        and not _pads_itself(
            per_conv * channels, (kh, kw), strides, spatial_padding, dilation_rate
        )
    ):
        space, spatial_padding = spatial_padding, (0, 0)
    x = inputs
    if pad_t or tail or any(space):
        pads = [[0, 0], [pad_t, tail], *([p, p] for p in space), [0, 0]]
        x = ops.pad(x, pads)
    batch, _, height, width, _ = ops.shape(x)
    # (batch, blocks * P, h, w, c) -> (blocks * batch, h, w, P * c): block
    # major where a span has several blocks, so that the blocks of one
    # position in every span are one contiguous slice.
    x = ops.reshape(x, (-1, blocks, per_conv, height, width, channels))
    if per_conv > 1 or block_major:
        x = ops.transpose(x, (1, 0, 3, 4, 2, 5) if block_major else (0, 1, 3, 4, 2, 5))
    x = ops.reshape(x, (-1, height, width, per_conv * channels))
    y = None
    for b, block_kernel in enumerate(
        _block_toeplitz(kernel, per_conv, blocks_per_span)
    ):
        part = padded_conv(
            x[b * batch : (b + groups) * batch] if block_major else x,
            block_kernel,
            strides,
            spatial_padding,
            dilation_rate,
        )
        y = part if y is None else y + part
    y = epilogue(y, per_conv)
    if frame_wise is not None:
        y = frame_wise(y)
    _, out_height, out_width, out_channels = ops.shape(y)
    out_channels //= per_conv
    if block_major:
        y = ops.reshape(y, (groups, -1, out_height, out_width, per_conv, out_channels))
        y = ops.transpose(y, (1, 0, 4, 2, 3, 5))
    else:
        y = ops.reshape(y, (-1, groups, out_height, out_width, per_conv, out_channels))
        if per_conv > 1:
            y = ops.transpose(y, (0, 1, 4, 2, 3, 5))
    y = ops.reshape(y, (-1, groups * per_conv, out_height, out_width, out_channels))
    return y[:, :out_frames] if groups * per_conv > out_frames else y


def _block_toeplitz(kernel, per_conv, blocks_per_span):
    """The kernels of ``frame_stacked_conv``, one per block of a span.

    Output frame o of a position reads stacked input frames o .. o + kt - 1;
    the span's ``blocks_per_span * P`` frames (zeros past ``kt + P - 1``) are
    cut into blocks of P, each a ``(kh, kw, P * channels, P * filters)``
    2D kernel.
    """
    kt, kh, kw, channels, filters = kernel.shape
    frames = blocks_per_span * per_conv
    toeplitz = ops.stack(
        [
            ops.pad(kernel, [[o, frames - kt - o], [0, 0], [0, 0], [0, 0], [0, 0]])
            for o in range(per_conv)
        ],
        axis=4,
    )  # (frames, kh, kw, channels, per_conv, filters)
    toeplitz = ops.reshape(
        ops.transpose(toeplitz, (1, 2, 0, 3, 4, 5)),
        (kh, kw, blocks_per_span, per_conv * channels, per_conv * filters),
    )
    return [toeplitz[:, :, b] for b in range(blocks_per_span)]


def temporal_conv(inputs, kernel, stride=1, dilation_rate=1, padding=0, epilogue=None):
    """A ``(kt, 1, 1)`` 3D convolution, as a 2D convolution.

    A 1x1 spatial kernel convolves each pixel's time series on its own, so the
    clip reshaped to ``(batch, frames, height * width, channels)`` is an image
    the ``(kt, 1)`` kernel convolves the same way.

    Args:
        inputs: ``(batch, frames, height, width, channels)``.
        kernel: ``(kt, 1, 1, channels, filters)`` Conv3D kernel.
        stride: int. Temporal stride.
        dilation_rate: int. Temporal dilation.
        padding: int. Zero frames on both sides.
        epilogue: optional channel-wise function of the 2D output.

    Returns:
        ``(batch, out_frames, height, width, filters)``.
    """
    epilogue = epilogue or _identity
    kt, _, _, channels, filters = kernel.shape
    _, frames, height, width, _ = ops.shape(inputs)
    x = ops.reshape(inputs, (-1, frames, height * width, channels))
    y = padded_conv(
        x,
        ops.reshape(kernel, (kt, 1, channels, filters)),
        (stride, 1),
        (padding, 0),
        (dilation_rate, 1),
    )
    y = epilogue(y, 1)
    return ops.reshape(y, (-1, ops.shape(y)[1], height, width, filters))


def pointwise_conv(inputs, kernel, epilogue=None):
    """A ``(1, 1, 1)`` 3D convolution with unit strides, as one matrix product.

    Each output pixel is the input pixel's channel vector times the
    ``(channels, filters)`` kernel matrix. TensorFlow's Eigen kernels (its CPU
    default without AVX512-VNNI) run this up to 3x faster as ``MatMul`` than
    as ``Conv3D`` (benchmarks/bench_layers.py), and its gradients are two
    matrix products.

    Args:
        inputs: ``(batch, frames, height, width, channels)``.
        kernel: ``(1, 1, 1, channels, filters)`` Conv3D kernel.
        epilogue: optional channel-wise function of the matrix product.

    Returns:
        ``(batch, frames, height, width, filters)``.
    """
    epilogue = epilogue or _identity
    channels, filters = kernel.shape[-2:]
    _, frames, height, width, _ = ops.shape(inputs)
    y = ops.matmul(
        ops.reshape(inputs, (-1, channels)), ops.reshape(kernel, (channels, filters))
    )
    y = epilogue(y, 1)
    return ops.reshape(y, (-1, frames, height, width, filters))
