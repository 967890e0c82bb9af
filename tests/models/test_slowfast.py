"""SlowFastNet: forward pass, config, saving, errors and the torch backend."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast.models import SlowFastNet
from tests.test_case import assert_close, run_model_saving_test, run_serialization_test

TINY = {
    "stage_depths": [1, 1, 1, 1],
    "alpha": 4,
    "beta_inv": 8,
    "num_frames": 8,
    "num_classes": 5,
}


def _clip(frames=8, size=32, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, frames, size, size, 3)).astype("float32")


def test_tiny_forward_shapes_and_names():
    model = SlowFastNet(**TINY)
    assert model(_clip()).shape == (2, 5)
    names = [layer.name for layer in model.layers]
    for expected in [
        "pack",
        "slow_stem",
        "fast_stem",
        "fuse_stem",
        "slow_res2",
        "fast_res5",
        "fuse_res4",
        "head",
    ]:
        assert expected in names
    assert "fuse_res5" not in names  # never fused after res5


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"fusion": "tsample"},
        {"fusion": "ttoc_concat"},
        {"fusion": "ttoc_sum", "alpha": 8, "num_frames": 16},
        {"nonlocal_blocks": [[], [0], [0], []], "nonlocal_affinity": "softmax"},
        {"fast_input": "gray"},
        {"fast_input": "diff"},
        {"pathways": "slow"},
        {"pathways": "fast"},
        {"pathways": "slow", "alpha": 1},
    ],
)
def test_variants_round_trip_through_keras_files(overrides):
    config = {**TINY, **overrides}
    model = SlowFastNet(**config)
    clip = _clip(frames=config["num_frames"], batch=1)
    run_serialization_test(model)
    restored = run_model_saving_test(model, clip)
    assert isinstance(restored, SlowFastNet)


def test_features_and_feature_maps():
    pooled = SlowFastNet(**TINY, include_top=False)
    assert pooled(_clip()).shape == (2, pooled.feature_channels) == (2, 2048 + 256)
    maps = SlowFastNet(**TINY, include_top=False, pooling=None)
    slow, fast = maps(_clip(size=64))
    assert slow.shape == (2, 2, 2, 2, 2048) and fast.shape == (2, 8, 2, 2, 256)


def test_fully_convolutional_softmax_head_matches_global_on_crop_size():
    model = SlowFastNet(**TINY, head_activation="softmax")
    fc = SlowFastNet(**TINY, head_activation="softmax", head_spatial_pool_size=[1, 1])
    fc.set_weights(model.get_weights())
    probabilities = np.asarray(fc(_clip(), training=False))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    # On a 32x32 clip the final map is 1x1, so both heads agree exactly.
    assert_close(probabilities, model(_clip(), training=False))


def test_factories_pick_reference_hyperparameters():
    r50 = ks.SlowFastR50(num_classes=3)
    assert (r50.alpha, r50.beta_inv, r50.fusion_kernel_size) == (8, 8, 5)
    model = ks.SlowFast(
        depth=50,
        alpha=8,
        beta=1 / 8,
        num_classes=3,
        include_top=False,
        image_size=[32, 32],
    )
    assert (model.alpha, model.beta_inv, model.fusion_kernel_size) == (8, 8, 5)
    eight = ks.SlowFast(depth=50, alpha=4, num_classes=3)
    assert eight.fusion_kernel_size == 7
    nl = ks.SlowFast(depth=50, alpha=4, nonlocal_blocks=True, num_classes=3)
    assert nl.nonlocal_blocks == [[], [1, 3], [1, 3, 5], []]
    assert nl.fusion_kernel_size == 5
    r101 = ks.SlowFastR101(num_frames=64, layout="50_50", num_classes=3)
    assert r101.temporal_kernel_sizes["slow"][2] == [3] * 6 + [1] * 17
    assert ks.SlowOnly(num_classes=3).pathways == "slow"
    assert ks.FastOnly(num_classes=3).pathways == "fast"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: SlowFastNet(**{**TINY, "num_frames": 30}), "num_frames=30"),
        (lambda: ks.SlowFast(beta=0.3), "beta"),
        (lambda: ks.SlowFast(beta="eighth"), "beta"),
        (lambda: ks.SlowFast(fusion="add"), "fusion"),
        (lambda: ks.SlowFast(depth=34), "depth"),
        (lambda: ks.SlowFastR101(layout="60_40"), "layout"),
        (lambda: SlowFastNet(**{**TINY, "pathways": "both"}), "pathways"),
        (lambda: SlowFastNet(**{**TINY, "stage_depths": [1, 1, 1]}), "stage_depths"),
        (
            lambda: SlowFastNet(
                **{**TINY, "temporal_kernel_sizes": {"slow": [1, [1, 3], 3, 3]}}
            ),
            "res3",
        ),
        (lambda: ks.from_preset("slowfast_2x32_r50"), "preset"),
        (
            lambda: SlowFastNet(
                **{**TINY, "input_convention": {"channel_order": "yuv"}}
            ),
            "channel_order",
        ),
    ],
)
def test_bad_configuration_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "shape, match",
    [
        ((2, 8, 32, 32), "rank 5"),
        ((2, 8, 32, 32, 1), "3 channels"),
        ((2, 16, 32, 32, 3), "8 frames"),
    ],
)
def test_bad_input_is_reported_clearly(shape, match):
    model = SlowFastNet(**TINY)
    with pytest.raises(ValueError, match=match):
        model(np.zeros(shape, "float32"))


def test_same_outputs_on_the_torch_backend(tmp_path):
    """Backend-agnostic model code: Keras' torch backend gives the same logits."""
    model = SlowFastNet(**TINY, nonlocal_blocks=[[], [0], [], []])
    # Non-trivial BN statistics so every path matters.
    rng = np.random.default_rng(3)
    model.set_weights(
        [
            np.abs(rng.normal(size=w.shape)).astype("float32") + 0.5
            if "variance" in w.path
            else rng.normal(size=w.shape).astype("float32") * 0.1
            for w in model.weights
        ]
    )
    clip = _clip(batch=1)
    np.save(tmp_path / "clip.npy", clip)
    np.save(tmp_path / "expected.npy", np.asarray(model(clip, training=False)))
    model.save_weights(tmp_path / "tiny.weights.h5")
    (tmp_path / "config.json").write_text(json.dumps(model.get_config()))
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        assert keras.config.backend() == "torch"
        from keras_slowfast.models import SlowFastNet
        config = json.load(open({str(tmp_path / "config.json")!r}))
        model = SlowFastNet.from_config(config)
        model.load_weights({str(tmp_path / "tiny.weights.h5")!r})
        clip = np.load({str(tmp_path / "clip.npy")!r})
        got = keras.ops.convert_to_numpy(model(clip, training=False))
        diff = np.abs(got - np.load({str(tmp_path / "expected.npy")!r})).max()
        print("max abs diff", diff)
        assert diff <= 1e-4, diff
    """)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "max abs diff" in result.stdout


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_dtype_reaches_every_layer_and_survives_the_config(policy):
    """``dtype=`` sets every sublayer's policy, not the global one."""
    from keras_slowfast.models import SlowFastDetector

    tiny = dict(
        stage_depths=[1, 1, 1, 1], num_frames=8, nonlocal_blocks=[[], [0], [], []]
    )
    for model in (
        SlowFastNet(**tiny, num_classes=3, dtype=policy),
        SlowFastDetector(**tiny, num_classes=3, dtype=policy),
    ):
        assert keras.config.dtype_policy().name == "float32"
        layers = [
            layer
            for layer in model._flatten_layers(include_self=False)
            if not isinstance(layer, keras.layers.InputLayer)
        ]
        assert len(layers) > 50
        wrong = [layer.name for layer in layers if layer.dtype_policy.name != policy]
        assert wrong == [], wrong
        assert all(v.dtype == "float32" for v in model.weights)  # mixed: float32 state
        rebuilt = model.__class__.from_config(model.get_config())
        assert {
            layer.dtype_policy.name
            for layer in rebuilt._flatten_layers(include_self=False)
            if not isinstance(layer, keras.layers.InputLayer)
        } == {policy}
