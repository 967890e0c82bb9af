"""Faster gradients for factorized unit-stride convolutions (TensorFlow).

Most of SlowFast's convolutions are temporal-only ``(kt, 1, 1)`` or
spatial-only ``(1, kh, kw)`` with unit strides and odd kernels (PyTorch's
padding ``k // 2`` on both sides). Their gradients have simple forms that
TensorFlow's Eigen CPU kernels (its default on CPUs without AVX512-VNNI, such
as AVX2-only ones) compute slower than necessary:

- the input gradient is the same kind of convolution of the output
  gradient, with the kernel reversed along its spatial axes and its channel
  axes swapped (a unit-stride convolution's transpose). Run as a forward
  convolution it is faster than ``Conv2DBackpropInput`` /
  ``Conv3DBackpropInputV2``, which compute the general strided case;
- the kernel gradient of a temporal unit's tap ``i`` is one matrix product,
  the input frames shifted by ``i - kt // 2`` against the output gradient's
  frames: ``dW[i] = sum_t x[t + i - kt // 2]^T dy[t]``, over the frames where
  both exist. With the frame axis leading (one clip at a time, or the clip
  transposed to time-major) each shifted run of frames is a contiguous slice,
  which TensorFlow aliases instead of copying. ``Conv3DBackpropFilterV2``
  and ``Conv2DBackpropFilter`` (for the ``(time, pixels)`` 2D form) took 2-5x
  the forward pass's time for them. A spatial unit's kernel gradient stays
  ``Conv2DBackpropFilter`` over frames, which was as fast as the
  alternatives tried (9 shifted-slice products, image patches + one product).

At AVX2 this made the SlowFast 8x8 R50 training step at batch 1 0.9x as long
(benchmarks/RESULTS.md); with oneDNN (AVX-512 machines) the step time did not
change.

TensorFlow only: ``tf.custom_gradient`` sets the gradient; the forward pass
is the caller's.
"""

from keras_slowfast.layers.utils import tensorflow_or_none

# Up to this many clips, a temporal kernel gradient runs clip by clip (slices
# of the input as it is laid out); more clips are first transposed to
# time-major (one copy of the input and of the output gradient) to keep the
# graph small.
CLIP_BY_CLIP_MAX_BATCH = 8


def has_fast_gradients(kernel_size, strides, dilation_rate):
    """Whether ``conv_with_fast_gradients`` computes this unit's gradients.

    Temporal-only or spatial-only kernels of odd sizes (so that PyTorch's
    padding is symmetric) with unit strides and dilation.
    """
    kt, kh, kw = kernel_size
    temporal = kt > 1 and kh == kw == 1
    spatial = kt == 1 and kh * kw > 1
    return (
        (temporal or spatial)
        and all(k % 2 == 1 for k in kernel_size)
        and tuple(strides) == (1, 1, 1)
        and tuple(dilation_rate) == (1, 1, 1)
    )


def conv_with_fast_gradients(inputs, kernel, convolve):
    """``convolve(inputs, kernel)``, with the gradients of the module docstring.

    Args:
        inputs: ``(batch, frames, height, width, channels)`` tensor with a
            static number of frames.
        kernel: ``(kt, kh, kw, channels, filters)`` Conv3D kernel tensor,
            temporal-only or spatial-only with odd sizes
            (``has_fast_gradients``).
        convolve: function ``(x, kernel) -> y`` computing the unit-stride
            convolution with PyTorch's padding for ``x`` with any number of
            channels; it also computes the input gradient.

    Returns:
        ``convolve(inputs, kernel)``, whose gradients with respect to
        ``inputs`` and ``kernel`` are computed as in the module docstring.
    """
    tf = tensorflow_or_none()
    kernel = tf.convert_to_tensor(kernel)
    temporal = kernel.shape[0] > 1

    @tf.custom_gradient
    def conv(x, k):
        def grad(dy):
            transposed = tf.transpose(tf.reverse(k, [0, 1, 2]), (0, 1, 2, 4, 3))
            dx = convolve(dy, transposed)
            if temporal:
                return dx, _temporal_kernel_gradient(tf, x, dy, k.shape)
            return dx, _spatial_kernel_gradient(tf, x, dy, k.shape)

        return convolve(x, k), grad

    return conv(inputs, kernel)


def _flat_clips(tf, x):
    """``x`` as ``(clips, frames, pixels, channels)``, pixels flattened."""
    _, frames, height, width, channels = x.shape
    # One size may be left to the reshape: the pixels where the frame size is
    # free (detectors exported for any image size), else the batch.
    clips = -1 if height and width else tf.shape(x)[0]
    pixels = height * width if height and width else -1
    return tf.reshape(x, (clips, frames, pixels, channels))


def _temporal_kernel_gradient(tf, x, dy, kernel_shape):
    """``dW``: one matrix product per tap and frame-leading clip."""
    kt, _, _, channels, filters = kernel_shape
    batch, frames = x.shape[:2]
    padding = kt // 2
    x, dy = _flat_clips(tf, x), _flat_clips(tf, dy)
    if batch is not None and batch <= CLIP_BY_CLIP_MAX_BATCH:
        clips = [(x[b], dy[b]) for b in range(batch)]
    else:
        clips = [(tf.transpose(x, (1, 0, 2, 3)), tf.transpose(dy, (1, 0, 2, 3)))]
    taps = []
    for i in range(kt):
        shift = i - padding
        products = []
        for x_clip, dy_clip in clips:
            # Frame t of dy reads input frame t + shift.
            x_run = x_clip[max(shift, 0) : frames + min(shift, 0)]
            dy_run = dy_clip[max(-shift, 0) : frames + min(-shift, 0)]
            products.append(
                tf.matmul(
                    tf.reshape(x_run, (-1, channels)),
                    tf.reshape(dy_run, (-1, filters)),
                    transpose_a=True,
                )
            )
        taps.append(tf.add_n(products))
    return tf.reshape(tf.stack(taps), kernel_shape)


def _spatial_kernel_gradient(tf, x, dy, kernel_shape):
    """``dW``: TensorFlow's 2D filter gradient over the frames."""

    def frames(t):
        if None in t.shape[2:]:
            return tf.reshape(t, tf.concat([[-1], tf.shape(t)[2:]], axis=0))
        return tf.reshape(t, (-1, *t.shape[2:]))

    gradient = tf.raw_ops.Conv2DBackpropFilter(
        input=frames(x),
        filter_sizes=kernel_shape[1:],
        out_backprop=frames(dy),
        strides=[1, 1, 1, 1],
        padding="SAME",  # odd kernels, unit strides: k // 2 on both sides
    )
    return tf.reshape(gradient, kernel_shape)
