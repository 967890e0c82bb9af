"""Convolutions with 3 taps along time or height, with half the multiplies.

SlowFast R50's wide units are ``(3, 1, 1)`` (the Slow pathway's res4 and res5
stages open every bottleneck with one, over 640-2048 channels) and
``(1, 3, 3)`` (every bottleneck's middle unit): in the Slow pathway, nearly
60% of the 8x8 R50's multiply-adds. On an AVX2 CPU TensorFlow's kernels
already run them near the matrix-multiply peak, so the only way to make them
faster is to multiply less. Winograd's minimal filtering algorithm F(4, 3)
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR
2016) computes 4 consecutive outputs of a 3-tap filter from the 6 inputs
they read with 6 products instead of 12:

    y = A^T [(G g) * (B^T d)]

per channel pair, where ``d`` is the 6-input tile, ``g`` the 3 taps, ``*``
the element-wise product over the 6 transformed inputs, and ``B^T`` (6x6),
``G`` (6x3), ``A^T`` (4x6) small constant matrices. Here it runs along one
axis, the Winograd axis (time for a ``(3, 1, 1)`` kernel, height for a
``(1, 3, kw)`` one); over channels, each of the 6 element-wise products
becomes one matrix product ``(pixels, channels) x (channels, filters)`` (a
``(1, kw)`` convolution along the width for a spatial kernel), over ``tiles``
rows instead of the axis' length: half the multiply-adds. Both transforms
are matrix products too, over the Winograd axis moved first (free for a
temporal unit on one clip): the input's with ``B^T`` laid out for every tile,
the output's with ``A^T`` (and the outputs come out in order).

The result equals the direct convolution up to float rounding; the
transforms' constants (up to 8) make the float32 rounding error a few times
that of the direct convolution (3.4x its RMS error, at most 1e-5 of the
output's scale, over 768 inputs per output; tests/layers/test_winograd.py).
"""

import functools
import math

import numpy as np
from keras import ops

from keras_slowfast.layers.conv_formulations import _identity, padded_conv

# F(4, 3) with interpolation points 0, 1, -1, 2, -2 and infinity (Lavin &
# Gray 2016, section 4.2).
OUTPUTS_PER_TILE = 4
TAPS = 3
_INPUT_TRANSFORM = np.array(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=np.float64,
)  # B^T
_KERNEL_TRANSFORM = np.array(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=np.float64,
)  # G
_OUTPUT_TRANSFORM = np.array(
    [
        [1, 1, 1, 1, 1, 0],
        [0, 1, -1, 2, -2, 0],
        [0, 1, 1, 4, 4, 0],
        [0, 1, -1, 8, -8, 1],
    ],
    dtype=np.float64,
)  # A^T
_TILE_INPUTS = _INPUT_TRANSFORM.shape[0]  # 6 inputs, 6 products per tile

# Winograd pays only where the products dominate the transforms: over at
# least this many input channels and filters (the Slow pathway's res3-res5
# units). Over fewer (the Fast pathway's 8-64 filters, the Slow res2 stage's
# 64) the transforms cost as much as the products save or more
# (benchmarks/RESULTS.md, 2026-12-03, AVX2).
MIN_CHANNELS = 128
MIN_FILTERS = 128


def tiles_for(length):
    """Number of F(4, 3) tiles that cover ``length`` outputs."""
    return math.ceil(length / OUTPUTS_PER_TILE)


def winograd_axis(kernel_size, strides, dilation_rate):
    """The axis of ``(batch, frames, height, width, channels)`` F(4, 3) runs on.

    1 for a ``(3, 1, 1)`` kernel, 2 for ``(1, 3, kw)`` with odd ``kw``, both
    with unit strides and dilation; None for any other unit.
    """
    if tuple(strides) != (1, 1, 1) or tuple(dilation_rate) != (1, 1, 1):
        return None
    kt, kh, kw = kernel_size
    if (kt, kh, kw) == (TAPS, 1, 1):
        return 1
    if kt == 1 and kh == TAPS and kw % 2 == 1:
        return 2
    return None


def pays_off(kernel_size, strides, dilation_rate, input_shape, filters):
    """Whether a unit's convolution of ``input_shape`` is cheaper by F(4, 3).

    Its kernel must have a Winograd axis (``winograd_axis``) of known length
    in ``input_shape`` ``(batch, frames, height, width, channels)``, known
    height and width, at least ``MIN_CHANNELS`` channels and ``MIN_FILTERS``
    filters, and a length that fills the tiles well enough that 6 products
    per tile stay at most 3/4 of the direct convolution's 3 per output (4 or
    7 outputs pay; 5 do not: 12 vs 15).
    """
    axis = winograd_axis(kernel_size, strides, dilation_rate)
    if axis is None or None in input_shape[1:]:
        return False
    length = input_shape[axis]
    return (
        input_shape[-1] >= MIN_CHANNELS
        and filters >= MIN_FILTERS
        and 4 * _TILE_INPUTS * tiles_for(length) <= 3 * TAPS * length
    )


@functools.cache  # the callers only read the arrays
def _tiled_transforms(length):
    """``B^T`` and ``A^T`` laid out for every tile along the Winograd axis.

    Returns ``(input_transform, output_transform)``: ``(6 * tiles, length)``
    maps the inputs to the transformed tiles, row ``xi * tiles + tile``
    (grouped by transformed input ``xi``, so that each group is one
    contiguous matrix). Tile ``t`` reads inputs ``4t - 1 .. 4t + 4``; the
    columns of the zero padding (PyTorch's one zero on both sides, and zeros
    that fill the last tile) are dropped, so the input is never padded.
    ``(length, 6 * tiles)`` maps the products, laid out the same way, to the
    outputs in order.
    """
    tiles = tiles_for(length)
    padded = OUTPUTS_PER_TILE * tiles + TAPS - 1
    inputs = np.zeros((_TILE_INPUTS * tiles, padded))
    outputs = np.zeros((OUTPUTS_PER_TILE * tiles, _TILE_INPUTS * tiles))
    for tile in range(tiles):
        first = OUTPUTS_PER_TILE * tile
        rows = np.arange(_TILE_INPUTS) * tiles + tile
        inputs[rows, first : first + _TILE_INPUTS] = _INPUT_TRANSFORM
        outputs[first : first + OUTPUTS_PER_TILE, rows] = _OUTPUT_TRANSFORM
    return inputs[:, 1 : 1 + length], outputs[:length]


def winograd_conv(inputs, kernel, epilogue=None):
    """A unit-stride 3D convolution by F(4, 3) along its Winograd axis.

    PyTorch padding: one zero on both sides along the Winograd axis (in the
    input transform; the input is not padded), ``kw // 2`` along the width
    for a spatial kernel.

    Args:
        inputs: ``(batch, frames, height, width, channels)``, float32 or
            float64; all but ``batch`` static.
        kernel: ``(3, 1, 1, channels, filters)`` or ``(1, 3, kw, channels,
            filters)`` Conv3D kernel (``winograd_axis``).
        epilogue: optional channel-wise function ``epilogue(y, copies)`` of
            the output transform's result, whose last axis holds ``copies``
            runs of the filters (``conv_formulations``).

    Returns:
        ``(batch, frames, height, width, filters)``: the Conv3D of the
        zero-padded input, up to float rounding.
    """
    epilogue = epilogue or _identity
    kt, kh, kw, channels, filters = kernel.shape
    axis = winograd_axis((kt, kh, kw), (1, 1, 1), (1, 1, 1))
    shape = inputs.shape
    length, tiles = shape[axis], tiles_for(shape[axis])
    input_transform, output_transform = _tiled_transforms(length)
    x = inputs
    # The Winograd axis leads, so that each transform is one matrix product
    # over it; with nothing but ones before it that is a free reshape.
    order = (axis, *(i for i in range(5) if i != axis))
    moves = shape[:axis] != (1,) * axis
    if moves:
        x = ops.transpose(x, order)
    x = ops.reshape(x, (length, -1))
    x = ops.matmul(ops.convert_to_tensor(input_transform, x.dtype), x)
    taps = ops.reshape(ops.cast(kernel, x.dtype), (TAPS, -1))
    kernel = ops.matmul(ops.convert_to_tensor(_KERNEL_TRANSFORM, x.dtype), taps)
    if axis == 1:
        x = ops.reshape(x, (_TILE_INPUTS, -1, channels))
        kernel = ops.reshape(kernel, (_TILE_INPUTS, channels, filters))
        products = [ops.matmul(x[i], kernel[i]) for i in range(_TILE_INPUTS)]
    else:
        # Each transformed row of every frame, convolved along the width.
        width = shape[3]
        x = ops.reshape(x, (_TILE_INPUTS, -1, 1, width, channels))
        kernel = ops.reshape(kernel, (_TILE_INPUTS, 1, kw, channels, filters))
        products = [
            padded_conv(x[i], kernel[i], (1, 1), (0, kw // 2), (1, 1))
            for i in range(_TILE_INPUTS)
        ]
    y = ops.matmul(
        ops.convert_to_tensor(output_transform, x.dtype),
        ops.concatenate([ops.reshape(p, (tiles, -1)) for p in products], axis=0),
    )  # (length, everything else * filters)
    others = [shape[i] for i in order[1:-1]]
    if None in others:
        y = epilogue(ops.reshape(y, (-1, filters)), 1)
    else:
        y = epilogue(y, math.prod(others))
    y = ops.reshape(y, (length, *(-1 if d is None else d for d in others), filters))
    if moves:
        y = ops.transpose(y, tuple(int(i) for i in np.argsort(order)))
    return ops.reshape(y, (-1, *shape[1:4], filters))
