"""Lateral fusion, pathway packing and the classification head."""

import numpy as np
import pytest

from keras_slowfast.layers import (
    ClassificationHead,
    LateralFusion,
    PackPathways,
    slow_frame_indices,
)
from tests.test_case import run_layer_test


def test_slow_frame_indices_match_reference():
    # REFERENCE: N=32, alpha=4 gives floor(linspace(0, 31, 8)), not [::4].
    assert slow_frame_indices(32, 4).tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    assert slow_frame_indices(32, 8).tolist() == [0, 10, 20, 31]
    assert slow_frame_indices(8, 1).tolist() == list(range(8))


@pytest.mark.parametrize("frames, alpha", [(30, 4), (3, 4), (8, 0)])
def test_bad_frame_counts(frames, alpha):
    with pytest.raises(ValueError, match="alpha"):
        slow_frame_indices(frames, alpha)


def test_pack_pathways_selects_frames():
    clip = np.arange(16, dtype="float32").reshape(1, 16, 1, 1, 1) * np.ones(
        (1, 1, 2, 2, 3)
    )
    slow, fast = run_layer_test(
        PackPathways,
        {"alpha": 4},
        clip.astype("float32"),
        [(1, 4, 2, 2, 3), (1, 16, 2, 2, 3)],
    )
    assert np.asarray(slow)[0, :, 0, 0, 0].tolist() == [0, 5, 10, 15]
    np.testing.assert_array_equal(np.asarray(fast), clip)


def test_pack_pathways_fast_input_variants():
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(2, 8, 3, 3, 3)).astype("float32")
    _, gray = PackPathways(4, fast_input="gray")(clip)
    np.testing.assert_allclose(
        np.asarray(gray)[..., 0], clip @ np.array([0.299, 0.587, 0.114]), atol=1e-5
    )
    _, diff = PackPathways(4, fast_input="diff")(clip)
    diff = np.asarray(diff)
    np.testing.assert_allclose(diff[:, 0], 0.0)
    np.testing.assert_allclose(diff[:, 1:], clip[:, 1:] - clip[:, :-1], atol=1e-6)
    with pytest.raises(ValueError, match="fast_input"):
        PackPathways(4, fast_input="flow")


@pytest.mark.parametrize(
    "mode, slow_channels", [("tconv", 16 + 4), ("tsample", 18), ("ttoc_concat", 24)]
)
def test_fusion_modes(mode, slow_channels):
    slow = np.random.rand(1, 2, 4, 4, 16).astype("float32")
    fast = np.random.rand(1, 8, 4, 4, 2).astype("float32")
    out_slow, out_fast = run_layer_test(
        LateralFusion,
        {"alpha": 4, "mode": mode, "kernel_size": 5},
        [slow, fast],
        [(1, 2, 4, 4, slow_channels), (1, 8, 4, 4, 2)],
    )
    np.testing.assert_array_equal(np.asarray(out_slow)[..., :16], slow)
    np.testing.assert_array_equal(np.asarray(out_fast), fast)
    if mode == "tsample":
        np.testing.assert_array_equal(np.asarray(out_slow)[..., 16:], fast[:, ::4])
    if mode == "ttoc_concat":
        packed = np.asarray(out_slow)[..., 16:]
        # channel block j of slow frame i is fast frame 4 * i + j
        for i in range(2):
            for j in range(4):
                np.testing.assert_array_equal(
                    packed[:, i, ..., 2 * j : 2 * j + 2], fast[:, 4 * i + j]
                )


def test_fusion_ttoc_sum_adds_and_checks_channels():
    slow = np.random.rand(1, 2, 3, 3, 8).astype("float32")
    fast = np.random.rand(1, 8, 3, 3, 2).astype("float32")
    out, _ = LateralFusion(4, mode="ttoc_sum")([slow, fast])
    packed = (
        fast.reshape(1, 2, 4, 3, 3, 2)
        .transpose(0, 1, 3, 4, 2, 5)
        .reshape(1, 2, 3, 3, 8)
    )
    np.testing.assert_allclose(np.asarray(out), slow + packed, atol=1e-6)
    with pytest.raises(ValueError, match="ttoc_sum"):
        LateralFusion(4, mode="ttoc_sum")([slow[..., :4], fast])
    with pytest.raises(ValueError, match="fusion"):
        LateralFusion(4, mode="sum")


def test_fusion_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="alpha"):
        LateralFusion(4)(
            [np.zeros((1, 3, 2, 2, 4), "float32"), np.zeros((1, 8, 2, 2, 2), "float32")]
        )


def test_head_global_and_fully_convolutional():
    rng = np.random.default_rng(0)
    slow = rng.normal(size=(2, 2, 7, 7, 6)).astype("float32")
    fast = rng.normal(size=(2, 8, 7, 7, 2)).astype("float32")
    logits = run_layer_test(
        ClassificationHead, {"num_classes": 5}, [slow, fast], (2, 5)
    )
    head = ClassificationHead(5)
    head([slow, fast])
    kernel, bias = (np.asarray(w) for w in head.proj.weights)
    features = np.concatenate([slow.mean((1, 2, 3)), fast.mean((1, 2, 3))], -1)
    np.testing.assert_allclose(
        np.asarray(head([slow, fast])), features @ kernel + bias, atol=1e-5
    )
    assert logits.shape == (2, 5)
    # Fully convolutional on a 9x9 map: dense + softmax at each of 3x3 windows.
    big = [
        rng.normal(size=(1, 2, 9, 9, 6)).astype("float32"),
        rng.normal(size=(1, 8, 9, 9, 2)).astype("float32"),
    ]
    fc = ClassificationHead(5, activation="softmax", spatial_pool_size=(7, 7))
    fc(big)
    fc.set_weights(head.get_weights())
    windows = []
    for i in range(3):
        for j in range(3):
            f = np.concatenate(
                [b.mean(1)[:, i : i + 7, j : j + 7].mean((1, 2)) for b in big], -1
            )
            z = f @ kernel + bias
            windows.append(np.exp(z) / np.exp(z).sum(-1, keepdims=True))
    np.testing.assert_allclose(np.asarray(fc(big)), np.mean(windows, 0), atol=1e-5)


def test_head_features_and_errors():
    features = ClassificationHead(None)(
        [np.ones((1, 2, 3, 3, 4), "float32"), np.ones((1, 8, 3, 3, 2), "float32")]
    )
    assert features.shape == (1, 6)
    with pytest.raises(ValueError, match="num_classes"):
        ClassificationHead(0)
    with pytest.raises(ValueError, match="dropout_rate"):
        ClassificationHead(3, dropout_rate=1.5)
    with pytest.raises(ValueError, match="activation"):
        ClassificationHead(3, activation="relu")
