import numpy as np
import pytest
import torch
from keras import ops

from keras_slowfast.layers import ConvBN3D
from tests.test_case import run_layer_test


def test_layer_contract():
    x = np.random.rand(2, 4, 9, 9, 3).astype("float32")
    run_layer_test(
        ConvBN3D,
        {"filters": 6, "kernel_size": (3, 3, 3), "strides": (1, 2, 2)},
        x,
        expected_output_shape=(2, 4, 5, 5, 6),
    )


@pytest.mark.parametrize(
    "kernel, stride, dilation, size",
    [
        ((3, 3, 3), (1, 2, 2), (1, 1, 1), 8),
        ((5, 7, 7), (1, 2, 2), (1, 1, 1), 9),
        ((7, 1, 1), (4, 1, 1), (1, 1, 1), 8),
        ((1, 3, 3), (1, 1, 1), (1, 2, 2), 7),
    ],
)
def test_matches_pytorch_conv_bn(kernel, stride, dilation, size):
    """Symmetric explicit padding reproduces PyTorch Conv3d + BatchNorm3d (eval)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 8, size, size, 4)).astype("float32")
    layer = ConvBN3D(5, kernel, strides=stride, dilation_rate=dilation)
    layer.build(x.shape)
    conv = torch.nn.Conv3d(
        4,
        5,
        kernel,
        stride=stride,
        dilation=dilation,
        padding=tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True)),
        bias=False,
    )
    bn = torch.nn.BatchNorm3d(5, eps=1e-5).eval()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    layer.conv.kernel.assign(conv.weight.detach().numpy().transpose(2, 3, 4, 1, 0))
    layer.bn.set_weights(
        [
            t.detach().numpy()
            for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)
        ]
    )
    expected = torch.relu(bn(conv(torch.from_numpy(x.transpose(0, 4, 1, 2, 3)))))
    got = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(
        got, expected.detach().numpy().transpose(0, 2, 3, 4, 1), atol=1e-5
    )


def test_zero_init_gamma_and_flops():
    layer = ConvBN3D(8, 3, zero_init_gamma=True, activation=False)
    out = layer(np.ones((1, 2, 4, 4, 2), "float32"))
    assert np.allclose(np.asarray(out), 0.0)  # gamma 0 and beta 0 -> zeros
    counts = layer.flop_counts((1, 2, 4, 4, 2))
    assert counts["conv"] == 2 * 4 * 4 * 8 * 2 * 27
    assert counts["batch_norm"] == 2 * 2 * 4 * 4 * 8


@pytest.mark.parametrize("bad", [0, (1, 2), (1, 0, 1), "x"])
def test_bad_kernel_size(bad):
    with pytest.raises(ValueError, match="kernel_size"):
        ConvBN3D(4, bad)


@pytest.mark.parametrize(
    "kernel, stride, dilation",
    [
        ((3, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((1, 3, 3), (1, 2, 2), (1, 1, 1)),
        ((1, 3, 3), (1, 1, 1), (1, 2, 2)),
        ((5, 1, 1), (4, 1, 1), (1, 1, 1)),
    ],
)
def test_folded_inference_equals_unfused(kernel, stride, dilation, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 10, 10, 3)).astype("float32")
    layer = ConvBN3D(4, kernel, strides=stride, dilation_rate=dilation)
    layer.build(x.shape)
    layer.set_weights(
        [
            rng.normal(size=w.shape).astype("float32")
            + (2.0 if "variance" in w.path else 0.0)
            for w in layer.weights
        ]
    )
    fused = np.asarray(layer(x, training=False))
    monkeypatch.setattr(ConvBN3D, "fuse_for_inference", False)
    unfused = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(fused, unfused, atol=1e-4, rtol=1e-4)
    assert np.abs(unfused).max() > 0.1  # the comparison is not between zeros


@pytest.mark.parametrize(
    "shape, filters, scales_output",
    [
        ((1, 2, 3, 3, 64), 128, True),  # 2304 outputs < 8192 weights
        ((2, 8, 10, 10, 3), 4, False),  # 3200 outputs > 12 weights
        ((None, 2, 3, 3, 64), 128, True),  # unknown batch counted as 1
    ],
)
def test_folded_scale_on_kernel_or_output(shape, filters, scales_output, monkeypatch):
    """The BN scale goes on the smaller of kernel and output; same result."""
    rng = np.random.default_rng(2)
    layer = ConvBN3D(filters, 1)
    layer.build(shape)
    kernel_size = np.prod(layer.conv.kernel.shape)
    output_size = np.prod([d or 1 for d in layer.compute_output_shape(shape)])
    assert (output_size < kernel_size) == scales_output
    layer.set_weights(
        [
            rng.uniform(0.5, 1.5, size=w.shape).astype("float32")
            if "variance" in w.path
            else rng.normal(size=w.shape).astype("float32")
            for w in layer.weights
        ]
    )
    x = rng.normal(size=(shape[0] or 1, *shape[1:])).astype("float32")
    fused = np.asarray(layer(x, training=False))
    monkeypatch.setattr(ConvBN3D, "fuse_for_inference", False)
    unfused = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(fused, unfused, atol=1e-4, rtol=1e-4)
    assert np.isfinite(unfused).all() and np.abs(unfused).max() > 0.1


def test_training_uses_batch_statistics():
    x = (
        np.random.default_rng(2)
        .normal(3.0, 2.0, size=(4, 2, 6, 6, 3))
        .astype("float32")
    )
    layer = ConvBN3D(5, 1, activation=False)
    out = np.asarray(layer(x, training=True))
    # Batch-normalized output: zero mean, unit variance per channel (gamma 1, beta 0).
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2, 3)), 1.0, atol=1e-2)


def _assert_same_as_conv3d(layer, x, rng, weight_std, monkeypatch):
    """``layer`` as run (2D formulations) equals its plain Conv3D, to 1e-10.

    Compares the inference output, the training output and the gradients of
    the input and every weight, with random weights (positive BN scales and
    variances); ``layer`` and ``x`` are float64 so that only the computation
    differs, not the rounding.
    """
    import tensorflow as tf

    weights = [
        rng.uniform(0.5, 1.5, size=w.shape)
        if "variance" in w.path or "gamma" in w.path
        else rng.normal(0, weight_std, size=w.shape)
        for w in layer.weights
    ]

    def run():
        layer.set_weights(weights)  # training updates the BN statistics
        with tf.GradientTape() as tape:
            tape.watch(x)
            trained = layer(x, training=True)
            loss = ops.sum(trained * trained)
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        return [layer(x, training=False), trained, *grads]

    as_2d = run()
    monkeypatch.setattr(ConvBN3D, "conv_as_2d", False)
    as_3d = run()
    for got, expected in zip(as_2d, as_3d, strict=True):
        assert np.abs(np.asarray(expected)).max() > 0.5
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-10)


@pytest.mark.parametrize("filters, temporal_kernel", [(8, 5), (64, 1), (3, 3)])
def test_stems_stack_frames_with_the_same_results(
    filters, temporal_kernel, monkeypatch
):
    """Both paths of a stem unit agree with and without frame stacking.

    In float64, so that the comparison shows the two computations are the same
    function (float32 rounding, amplified by the batch-norm backward, would
    need a loose tolerance).
    """
    import tensorflow as tf

    rng = np.random.default_rng(4)
    x = tf.constant(rng.uniform(0, 1, size=(2, 7, 12, 12, 3)))
    layer = ConvBN3D(
        filters, (temporal_kernel, 7, 7), strides=(1, 2, 2), dtype="float64"
    )
    layer.build(x.shape)
    assert layer._frames_per_conv == -(-32 // filters)
    _assert_same_as_conv3d(layer, x, rng, 0.2, monkeypatch)


@pytest.mark.parametrize(
    "channels, kwargs, frames_per_conv, temporal_2d, pointwise",
    [
        (3, {"kernel_size": (5, 7, 7), "strides": (1, 2, 2)}, 4, False, False),
        (1, {"kernel_size": (5, 7, 7)}, 4, False, False),  # gray Fast input
        (3, {"kernel_size": (1, 7, 7), "filters": 64}, 1, False, False),
        (3, {"kernel_size": (5, 1, 1), "strides": (2, 1, 1)}, 0, True, False),
        (3, {"kernel_size": 3, "dilation_rate": (2, 1, 1)}, 0, False, False),
        (16, {"kernel_size": (1, 3, 3), "strides": (1, 2, 2)}, 1, False, False),
        (256, {"kernel_size": (3, 1, 1)}, 0, True, False),
        (32, {"kernel_size": (7, 1, 1), "strides": (4, 1, 1)}, 0, True, False),
        (32, {"kernel_size": (3, 1, 1), "strides": (1, 2, 2)}, 0, False, False),
        (16, {"kernel_size": (3, 3, 3)}, 0, False, False),
        (16, {"kernel_size": 1}, 0, False, True),
        (2048, {"kernel_size": 1}, 0, False, True),
        (64, {"kernel_size": 1, "strides": (1, 2, 2)}, 0, False, False),  # shortcut
        (512, {"kernel_size": (1, 3, 3)}, 0, False, False),
        (512, {"kernel_size": (3, 1, 1)}, 0, False, False),
    ],
)
def test_conv_as_2d_rule(channels, kwargs, frames_per_conv, temporal_2d, pointwise):
    """Which convolutions run as 2D ones; the choice is not in the config."""
    layer = ConvBN3D(**{"filters": 8, **kwargs})
    layer.build((1, 8, 16, 16, channels))
    assert layer._frames_per_conv == frames_per_conv
    assert layer._temporal_2d == temporal_2d
    assert layer._pointwise == pointwise
    assert "conv_as_2d" not in layer.get_config()


@pytest.mark.parametrize(
    "kernel, strides, dilation",
    [
        ((1, 3, 3), (1, 1, 1), (1, 1, 1)),
        ((1, 3, 3), (1, 2, 2), (1, 1, 1)),
        ((1, 3, 3), (1, 1, 1), (1, 2, 2)),
        ((3, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((5, 1, 1), (4, 1, 1), (1, 1, 1)),
        ((3, 1, 1), (1, 1, 1), (2, 1, 1)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1)),
    ],
)
def test_factorized_units_as_2d_with_the_same_results(
    kernel, strides, dilation, monkeypatch
):
    """Spatial-, temporal-only and pointwise units: 2D ops equal the Conv3D.

    Inference and training outputs and every gradient (weights and input), in
    float64 so that only the computation differs, not the rounding.
    """
    import tensorflow as tf

    rng = np.random.default_rng(6)
    x = tf.constant(rng.normal(size=(2, 8, 9, 9, 6)))
    layer = ConvBN3D(
        5, kernel, strides=strides, dilation_rate=dilation, dtype="float64"
    )
    layer.build(x.shape)
    assert layer._frames_per_conv or layer._temporal_2d or layer._pointwise
    _assert_same_as_conv3d(layer, x, rng, 0.3, monkeypatch)


def test_temporal_conv_with_unknown_spatial_size():
    """Height and width may be unknown when the graph is traced (SavedModel)."""
    import tensorflow as tf

    layer = ConvBN3D(4, (3, 1, 1))
    layer.build((None, 4, None, None, 8))
    x = np.random.default_rng(7).normal(size=(1, 4, 5, 6, 8)).astype("float32")
    traced = tf.function(
        lambda x: layer(x, training=False),
        input_signature=[tf.TensorSpec((None, 4, None, None, 8))],
    )
    np.testing.assert_allclose(
        np.asarray(traced(x)), np.asarray(layer(x, training=False)), atol=1e-6
    )
