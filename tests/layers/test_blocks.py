"""Stem, bottleneck, residual stage and non-local block."""

import numpy as np
import pytest
import torch

from keras_slowfast.layers import (
    BottleneckBlock,
    NonLocalBlock,
    PathwayStem,
    ResStage,
)
from keras_slowfast.layers.utils import max_pool_3d
from tests.test_case import run_layer_test


def test_stem():
    x = np.random.rand(1, 8, 32, 32, 3).astype("float32")
    run_layer_test(
        PathwayStem, {"filters": 8, "temporal_kernel_size": 5}, x, (1, 8, 8, 8, 8)
    )


@pytest.mark.parametrize(
    "filters, temporal_kernel_size, training",
    [(4, 1, False), (8, 5, False), (64, 1, False), (8, 5, True)],
)
def test_stem_pool_matches_pytorch(filters, temporal_kernel_size, training):
    """The stem pools its conv unit's output as PyTorch's MaxPool3d does.

    Frame-stacked units (4 and 8 filters) pool before unstacking their output
    frames, in inference; training pools the unstacked output.
    """
    x = np.random.default_rng(1).normal(size=(2, 5, 15, 15, 3)).astype("float32")
    stem = PathwayStem(filters, temporal_kernel_size=temporal_kernel_size)
    got = np.asarray(stem(x, training=training))
    conv_out = np.array(stem.conv(x, training=training))
    pool = torch.nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
    expected = pool(torch.from_numpy(conv_out.transpose(0, 4, 1, 2, 3)))
    np.testing.assert_allclose(
        got,
        expected.numpy().transpose(0, 2, 3, 4, 1),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "pool_size, strides",
    [
        ((1, 3, 3), (1, 2, 2)),
        ((1, 2, 2), (1, 2, 2)),
        ((2, 2, 2), (2, 2, 2)),
        ((3, 1, 1), (2, 1, 1)),
        ((2, 3, 1), (1, 2, 1)),
    ],
)
def test_max_pool_3d_equals_3d_pooling(pool_size, strides):
    """The 2D-pooling formulation gives torch's MaxPool3d, values and gradient."""
    import tensorflow as tf

    x = np.random.default_rng(3).normal(size=(2, 5, 9, 8, 4)).astype("float32")
    pool = torch.nn.MaxPool3d(pool_size, stride=strides)
    xt = torch.from_numpy(x.transpose(0, 4, 1, 2, 3)).requires_grad_()
    expected = pool(xt)
    (expected**2).sum().backward()
    xs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        got = max_pool_3d(xs, pool_size, strides)
        loss = tf.reduce_sum(got**2)
    np.testing.assert_allclose(
        np.asarray(got), expected.detach().numpy().transpose(0, 2, 3, 4, 1), atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(tape.gradient(loss, xs)),
        xt.grad.numpy().transpose(0, 2, 3, 4, 1),
        atol=1e-5,
    )


def test_bottleneck_projection_and_identity():
    x = np.random.rand(1, 4, 8, 8, 16).astype("float32")
    run_layer_test(
        BottleneckBlock,
        {
            "filters": 32,
            "inner_filters": 8,
            "temporal_kernel_size": 3,
            "spatial_stride": 2,
        },
        x,
        (1, 4, 4, 4, 32),
    )
    projecting = BottleneckBlock(32, 8)
    projecting(x)
    assert projecting.shortcut is not None
    identity = BottleneckBlock(16, 4)
    out = identity(x, training=False)
    assert identity.shortcut is None
    # conv_c's BN starts with gamma 0: a fresh block is relu(identity).
    np.testing.assert_allclose(np.asarray(out), np.maximum(x, 0), atol=1e-6)


def test_bottleneck_dilation_keeps_resolution():
    x = np.random.rand(1, 2, 7, 7, 8).astype("float32")
    out = run_layer_test(
        BottleneckBlock,
        {"filters": 8, "inner_filters": 4, "dilation": 2},
        x,
        (1, 2, 7, 7, 8),
    )
    assert out.shape == (1, 2, 7, 7, 8)


def test_res_stage_with_nonlocal():
    x = np.random.rand(1, 2, 8, 8, 16).astype("float32")
    run_layer_test(
        ResStage,
        {
            "filters": 32,
            "inner_filters": 8,
            "temporal_kernel_sizes": [1, 3, 3],
            "spatial_stride": 2,
            "nonlocal_blocks": [0, 2],
        },
        x,
        (1, 2, 4, 4, 32),
    )
    stage = ResStage(32, 8, [1, 3, 3], nonlocal_blocks=[2])
    stage(x)
    assert [b.name for b in stage.blocks] == ["block0", "block1", "block2"]
    assert [n.name for n in stage.nonlocal_layers] == ["nonlocal2"]
    assert [b.temporal_kernel_size for b in stage.blocks] == [1, 3, 3]


def test_res_stage_rejects_bad_nonlocal_index():
    with pytest.raises(ValueError, match="nonlocal_blocks"):
        ResStage(8, 2, [1, 1], nonlocal_blocks=[2])


def _nonlocal_reference(x, layer, affinity):
    """Float64 NumPy non-local block written from the definition (PySlowFast)."""
    w = {
        v.path.split("/")[-2] + "/" + v.path.split("/")[-1]: np.asarray(v, "float64")
        for v in layer.weights
    }
    x = x.astype("float64")
    b, t, h, wd, c = x.shape

    def conv(inp, name):
        return (
            inp
            @ w[f"{name}/kernel"].reshape(
                c if name != "out" else -1, w[f"{name}/kernel"].shape[-1]
            )
            + w[f"{name}/bias"]
        )

    theta = conv(x, "theta").reshape(b, -1, c // 2)
    pooled = x.reshape(b, t, h // 2, 2, wd // 2, 2, c).max(axis=(3, 5))
    phi = conv(pooled, "phi").reshape(b, -1, c // 2)
    g = conv(pooled, "g").reshape(b, -1, c // 2)
    aff = theta @ phi.transpose(0, 2, 1)
    if affinity == "softmax":
        aff = aff * (c // 2) ** -0.5
        aff = np.exp(aff - aff.max(-1, keepdims=True))
        aff /= aff.sum(-1, keepdims=True)
    else:
        aff /= phi.shape[1]
    y = (aff @ g).reshape(b, t, h, wd, c // 2)
    y = conv(y, "out")
    y = (y - w["bn/moving_mean"]) / np.sqrt(w["bn/moving_variance"] + 1e-5)
    y = y * w["bn/gamma"] + w["bn/beta"]
    return x + y


@pytest.mark.parametrize("affinity", ["dot_product", "softmax"])
def test_nonlocal_matches_reference(affinity):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 2, 4, 6, 8)).astype("float32")
    layer = NonLocalBlock(affinity=affinity)
    layer.build(x.shape)
    layer.set_weights(
        [
            rng.normal(size=v.shape).astype("float32") * 0.3
            + (1.0 if "variance" in v.path else 0.0)
            for v in layer.weights
        ]
    )
    got = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(got, _nonlocal_reference(x, layer, affinity), atol=1e-4)


def test_nonlocal_contract_and_errors():
    x = np.random.rand(1, 2, 4, 4, 8).astype("float32")
    run_layer_test(
        NonLocalBlock, {"affinity": "softmax", "pool_size": None}, x, (1, 2, 4, 4, 8)
    )
    with pytest.raises(ValueError, match="affinity"):
        NonLocalBlock(affinity="gaussian")
