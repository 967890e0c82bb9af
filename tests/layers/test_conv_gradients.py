import numpy as np
import pytest
from keras import ops

from keras_slowfast.layers import ConvBN3D, conv_gradients
from keras_slowfast.layers.conv_gradients import has_fast_gradients
from tests.layers.test_conv_bn import _assert_same_as_conv3d


@pytest.mark.parametrize(
    "kernel_size, strides, dilation, expected",
    [
        ((3, 1, 1), (1, 1, 1), (1, 1, 1), True),
        ((5, 1, 1), (1, 1, 1), (1, 1, 1), True),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), False),
        ((2, 1, 1), (1, 1, 1), (1, 1, 1), False),  # asymmetric padding
        ((7, 1, 1), (4, 1, 1), (1, 1, 1), False),  # the lateral T-conv
        ((3, 1, 1), (1, 1, 1), (2, 1, 1), False),
        ((3, 1, 1), (1, 2, 2), (1, 1, 1), False),
        ((3, 3, 3), (1, 1, 1), (1, 1, 1), False),
        ((1, 3, 3), (1, 1, 1), (1, 1, 1), True),
        ((1, 5, 3), (1, 1, 1), (1, 1, 1), True),
        ((1, 3, 3), (1, 2, 2), (1, 1, 1), False),  # the stage's first conv_b
        ((1, 3, 3), (1, 1, 1), (1, 2, 2), False),
        ((1, 2, 2), (1, 1, 1), (1, 1, 1), False),
    ],
)
def test_which_units_get_fast_gradients(kernel_size, strides, dilation, expected):
    assert has_fast_gradients(kernel_size, strides, dilation) == expected


def test_frame_stacked_units_keep_their_gradients():
    """A unit over the RGB clip keeps its frame-stacked forward pass."""
    layer = ConvBN3D(8, (1, 3, 3))
    layer.build((1, 4, 8, 8, 3))
    assert layer._frames_per_conv == 4 and not layer._fast_gradients


@pytest.mark.parametrize(
    "batch, frames, channels, kernel",
    [
        (2, 8, 6, (3, 1, 1)),  # clip by clip, the 2D (time, pixels) forward
        (1, 4, 300, (3, 1, 1)),  # over CONV_2D_MAX_CHANNELS: the Conv3D forward
        (3, 6, 5, (5, 1, 1)),
        (9, 4, 5, (3, 1, 1)),  # more clips than CLIP_BY_CLIP_MAX_BATCH
        (2, 2, 5, (5, 1, 1)),  # fewer frames than taps
        (2, 3, 6, (1, 3, 3)),  # spatial, 2D forward over frames
        (1, 2, 300, (1, 3, 3)),  # spatial, Conv3D forward
        (2, 2, 5, (1, 5, 3)),
    ],
)
def test_same_output_and_gradients_as_conv3d(
    batch, frames, channels, kernel, monkeypatch
):
    """Output and every gradient equal the plain Conv3D's, to 1e-10 (float64)."""
    import tensorflow as tf

    rng = np.random.default_rng(11)
    x = tf.constant(rng.normal(size=(batch, frames, 5, 4, channels)))
    layer = ConvBN3D(32, kernel, dtype="float64")
    layer.build(x.shape)
    assert layer._fast_gradients
    _assert_same_as_conv3d(layer, x, rng, 0.3, monkeypatch)


def _gradients(layer, x, signature):
    import tensorflow as tf

    @tf.function(input_signature=[signature])
    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = ops.sum(y * y)
        return tape.gradient(loss, [x, layer.conv.kernel])

    return gradients, [np.asarray(g) for g in gradients(x)]


@pytest.mark.parametrize("kernel", [(3, 1, 1), (1, 3, 3)])
@pytest.mark.parametrize("free", ["batch", "batch and frame size"])
def test_traced_with_free_sizes(free, kernel, monkeypatch):
    """A free batch (and frame size) at trace time gives the same gradients."""
    import tensorflow as tf

    rng = np.random.default_rng(12)
    x = rng.normal(size=(3, 4, 5, 6, 8))
    layer = ConvBN3D(4, kernel, dtype="float64")
    layer.build((None, 4, None, None, 8))
    size = (None, None) if free != "batch" else (5, 6)
    signature = tf.TensorSpec((None, 4, *size, 8), "float64")
    _, got = _gradients(layer, x, signature)
    monkeypatch.setattr(ConvBN3D, "conv_as_2d", False)
    _, expected = _gradients(layer, x, signature)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-10)


def _ops_in(traced):
    graph = traced.get_concrete_function().graph.as_graph_def()
    ops_run = {node.op for node in graph.node}
    for function in graph.library.function:
        ops_run.update(node.op for node in function.node_def)
    return ops_run


@pytest.mark.parametrize("channels", [16, 300])
def test_temporal_kernel_gradient_is_matrix_products(channels):
    """Neither gradient is a convolution's backprop op."""
    import tensorflow as tf

    layer = ConvBN3D(8, (3, 1, 1))
    x = np.random.default_rng(13).normal(size=(2, 4, 3, 3, channels)).astype("float32")
    gradients, _ = _gradients(layer, x, tf.TensorSpec(x.shape, "float32"))
    ops_run = _ops_in(gradients)
    assert "MatMul" in ops_run
    assert not {op for op in ops_run if "Backprop" in op}


def test_spatial_input_gradient_is_a_forward_convolution():
    """Only the kernel gradient is a backprop op (Conv2DBackpropFilter)."""
    import tensorflow as tf

    layer = ConvBN3D(8, (1, 3, 3))
    x = np.random.default_rng(13).normal(size=(2, 4, 6, 6, 16)).astype("float32")
    gradients, _ = _gradients(layer, x, tf.TensorSpec(x.shape, "float32"))
    backprops = {op for op in _ops_in(gradients) if "Backprop" in op}
    assert backprops == {"Conv2DBackpropFilter"}


@pytest.mark.parametrize("kernel, filters", [((3, 1, 1), 8), ((1, 3, 3), 32)])
def test_float32_gradients_within_1e5_of_conv3d(kernel, filters, monkeypatch):
    """Fast res2 conv_a/conv_b-like shapes in float32: relative error <= 1e-5."""
    import tensorflow as tf

    rng = np.random.default_rng(14)
    x = rng.normal(size=(2, 16, 14, 14, 32)).astype("float32")
    layer = ConvBN3D(filters, kernel)
    signature = tf.TensorSpec(x.shape, "float32")
    _, got = _gradients(layer, x, signature)
    monkeypatch.setattr(ConvBN3D, "conv_as_2d", False)
    _, expected = _gradients(layer, x, signature)
    for g, e in zip(got, expected, strict=True):
        assert np.abs(g - e).max() <= 1e-5 * np.abs(e).max()


def test_clip_by_clip_bound_is_used(monkeypatch):
    """Both layouts of the kernel gradient agree (the bound only picks one)."""
    import tensorflow as tf

    rng = np.random.default_rng(15)
    x = rng.normal(size=(3, 5, 2, 3, 4))
    layer = ConvBN3D(6, (3, 1, 1), dtype="float64")
    signature = tf.TensorSpec(x.shape, "float64")
    _, clip_by_clip = _gradients(layer, x, signature)
    monkeypatch.setattr(conv_gradients, "CLIP_BY_CLIP_MAX_BATCH", 0)
    _, time_major = _gradients(layer, x, signature)
    for a, b in zip(clip_by_clip, time_major, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)
