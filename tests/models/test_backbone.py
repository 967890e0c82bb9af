"""SlowFastBackbone: forward pass, config, saving, errors and the torch backend."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast.models import SlowFastBackbone
from tests.test_case import run_backbone_test
from tests.tiny_models import TINY_BACKBONE


def _clip(frames=8, size=32, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, frames, size, size, 3)).astype("float32")


def test_backbone_shared_checks_and_weight_count():
    # Weights as torch counts them (BN statistics excluded), pinned: the R50
    # widths with one block per stage, beta 1/8, T-conv fusion and one
    # non-local block (the full-size counts are checked against PyTorchVideo
    # in test_presets.py).
    backbone = run_backbone_test(
        SlowFastBackbone,
        {**TINY_BACKBONE, "nonlocal_blocks": [[], [0], [], []]},
        _clip(size=64),
        [(2, 2, 2, 2, 2048), (2, 8, 2, 2, 256)],
        expected_weight_count=11_417_544,
    )
    names = [layer.name for layer in backbone.layers]
    for expected in [
        "pack",
        "slow_stem",
        "fast_stem",
        "fuse_stem",
        "slow_res2",
        "fast_res5",
        "fuse_res4",
    ]:
        assert expected in names
    assert "fuse_res5" not in names  # never fused after res5
    assert backbone.feature_channels == {"slow": 2048, "fast": 256}


@pytest.mark.parametrize(
    "overrides",
    [
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
def test_variants_round_trip(overrides):
    from tests.test_case import run_model_saving_test, run_serialization_test

    config = {**TINY_BACKBONE, **overrides}
    backbone = SlowFastBackbone(**config)
    run_serialization_test(backbone)
    run_model_saving_test(backbone, _clip(frames=config["num_frames"], batch=1))
    expected = 1 if config.get("pathways", "slowfast") != "slowfast" else 2
    assert len(backbone.outputs) == expected


def test_beta_is_stored_as_beta_inv_and_defaults_are_the_4x16_r50():
    backbone = SlowFastBackbone(**{**TINY_BACKBONE, "beta_inv": 1}, beta=1 / 4)
    assert backbone.beta_inv == 4 and "beta" not in backbone.get_config()
    default = SlowFastBackbone()
    assert (default.alpha, default.beta_inv, default.num_frames) == (8, 8, 32)
    assert default.fusion_kernel_size == 5  # the 4x16 R50 (paper Table 1)
    assert SlowFastBackbone(alpha=4).fusion_kernel_size == 7  # PTV slowfast_r50
    r50 = ks.SlowFastR50()
    assert r50.backbone.get_config() == {
        **default.get_config(),
        "name": r50.backbone.name,
    }


def test_presets_are_class_members():
    assert "slowfast_8x8_r50" in SlowFastBackbone.presets
    backbone = SlowFastBackbone.from_preset("slowfast_8x8_r50", num_frames=16)
    assert (backbone.alpha, backbone.num_frames, backbone.fusion_kernel_size) == (
        4,
        16,
        7,
    )
    with pytest.raises(ValueError, match="slowfast_2x32_r50"):
        SlowFastBackbone.from_preset("slowfast_2x32_r50")


def test_factories_pick_reference_hyperparameters():
    r50 = ks.SlowFastR50(num_classes=3).backbone
    assert (r50.alpha, r50.beta_inv, r50.fusion_kernel_size) == (8, 8, 5)
    same = ks.SlowFast(depth=50, alpha=8, beta=1 / 8, num_classes=3).backbone
    assert same.get_config() == {**r50.get_config(), "name": same.name}
    eight = ks.SlowFast(depth=50, alpha=4, num_classes=3).backbone
    assert eight.fusion_kernel_size == 7
    nl = ks.SlowFast(depth=50, alpha=4, nonlocal_blocks=True, num_classes=3).backbone
    assert nl.nonlocal_blocks == [[], [1, 3], [1, 3, 5], []]
    assert nl.fusion_kernel_size == 5
    r101 = ks.SlowFastR101(num_frames=64, layout="50_50", num_classes=3).backbone
    assert r101.temporal_kernel_sizes["slow"][2] == [3] * 6 + [1] * 17
    assert ks.SlowOnly(num_classes=3).pathways == "slow"
    assert ks.FastOnly(num_classes=3).pathways == "fast"


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: SlowFastBackbone(**{**TINY_BACKBONE, "num_frames": 30}),
            "num_frames=30",
        ),
        (lambda: ks.SlowFast(beta=0.3), "beta"),
        (lambda: ks.SlowFast(beta="eighth"), "beta"),
        (lambda: ks.SlowFast(fusion="add"), "fusion"),
        (lambda: ks.SlowFast(depth=34), "depth"),
        (lambda: ks.SlowFastR101(layout="60_40"), "layout"),
        (lambda: SlowFastBackbone(**{**TINY_BACKBONE, "pathways": "both"}), "pathways"),
        (
            lambda: SlowFastBackbone(**{**TINY_BACKBONE, "stage_depths": [1, 1, 1]}),
            "stage_depths",
        ),
        (
            lambda: SlowFastBackbone(
                **{
                    **TINY_BACKBONE,
                    "temporal_kernel_sizes": {"slow": [1, [1, 3], 3, 3]},
                }
            ),
            "res3",
        ),
        (lambda: ks.from_preset("slowfast_2x32_r50"), "preset"),
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
    backbone = SlowFastBackbone(**TINY_BACKBONE)
    with pytest.raises(ValueError, match=match):
        backbone(np.zeros(shape, "float32"))


def test_same_outputs_on_the_torch_backend(tmp_path):
    """Backend-agnostic model code: Keras' torch backend gives the same maps."""
    backbone = SlowFastBackbone(**TINY_BACKBONE, nonlocal_blocks=[[], [0], [], []])
    # Non-trivial BN statistics so every path matters.
    rng = np.random.default_rng(3)
    backbone.set_weights(
        [
            np.abs(rng.normal(size=w.shape)).astype("float32") + 0.5
            if "variance" in w.path
            else rng.normal(size=w.shape).astype("float32") * 0.1
            for w in backbone.weights
        ]
    )
    clip = _clip(batch=1)
    np.save(tmp_path / "clip.npy", clip)
    slow, fast = backbone(clip, training=False)
    np.save(tmp_path / "slow.npy", np.asarray(slow))
    np.save(tmp_path / "fast.npy", np.asarray(fast))
    backbone.save_weights(tmp_path / "tiny.weights.h5")
    (tmp_path / "config.json").write_text(json.dumps(backbone.get_config()))
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        assert keras.config.backend() == "torch"
        from keras_slowfast.models import SlowFastBackbone
        config = json.load(open({str(tmp_path / "config.json")!r}))
        backbone = SlowFastBackbone.from_config(config)
        backbone.load_weights({str(tmp_path / "tiny.weights.h5")!r})
        clip = np.load({str(tmp_path / "clip.npy")!r})
        got = backbone(clip, training=False)
        diff = max(
            np.abs(keras.ops.convert_to_numpy(g) - np.load(path)).max()
            for g, path in zip(got, [{str(tmp_path / "slow.npy")!r},
                                     {str(tmp_path / "fast.npy")!r}])
        )
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
