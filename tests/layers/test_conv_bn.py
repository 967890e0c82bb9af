import numpy as np
import pytest
import torch

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
