"""Loading torch-named state dicts into tiny models: numerics, inference, errors."""

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from keras_slowfast.convert import (
    checkpoint_settings,
    convert_checkpoint,
    infer_config,
    load_checkpoint,
    load_state_dict,
    map_state_dict,
)
from keras_slowfast.models import SlowFastBackbone
from keras_slowfast.models.factories import classifier_from_arguments, split_arguments
from tests.convert.tiny import TINY, random_clip, tiny_model, torch_named_state_dict

# These tests read and write torch checkpoints (the "torch" extra).
pytestmark = pytest.mark.torch


class NotATensor:
    """A custom object: pickling it makes a checkpoint unsafe to load."""

    def __init__(self, value):
        self.value = value


def _outputs(model, clip):
    return np.asarray(model(clip, training=False))


@pytest.fixture(scope="module")
def reference():
    """The tiny model (non-local blocks included) with random weights."""
    return tiny_model()


@pytest.fixture(scope="module")
def blank():
    """A tiny model with initial weights, to load into (errors assign nothing)."""
    return classifier_from_arguments(**TINY)


@pytest.fixture
def state(reference):
    """A fresh PySlowFast-named state dict of ``reference``."""
    return torch_named_state_dict(reference)


@pytest.mark.parametrize("scheme", ["pyslowfast", "pytorchvideo"])
def test_round_trip_through_torch_names_gives_identical_logits(scheme, reference):
    if scheme == "pytorchvideo":  # PyTorchVideo SlowFast has no non-local blocks
        reference = tiny_model(nonlocal_blocks=None)
    state = torch_named_state_dict(reference, scheme)
    model = convert_checkpoint(
        {"model_state": state}, source=scheme, num_frames=8, progress=False
    )
    clip = random_clip()
    expected = _outputs(reference, clip)
    actual = _outputs(model, clip)
    print(f"{scheme}: max |logit difference| = {np.abs(actual - expected).max():.2e}")
    np.testing.assert_allclose(actual, expected, atol=1e-6)
    assert np.abs(expected).max() > 0.1  # the logits carry signal
    assert model.input_convention == {
        "mean": [0.45] * 3,
        "std": [0.225] * 3,
        "channel_order": "rgb",
    }


def test_infer_config_reads_the_visible_architecture():
    # Per-block temporal kernels (the R101 "50_50" layout in miniature).
    reference = tiny_model(temporal_kernel_sizes={"slow": [1, [3, 1], 3, 3]})
    arrays, _ = map_state_dict(torch_named_state_dict(reference), "pyslowfast")
    config = infer_config(arrays)
    assert config["stage_depths"] == [1, 2, 1, 1]
    assert config["beta_inv"] == 8
    assert config["fusion_kernel_size"] == 5
    assert config["fusion_channel_ratio"] == 2
    assert config["nonlocal_blocks"] == [[], [0, 1], [0], []]
    assert config["num_classes"] == 5
    assert config["stem_temporal_kernel_sizes"] == {"slow": 1, "fast": 5}
    assert config["temporal_kernel_sizes"]["slow"] == [[1], [3, 1], [3], [3]]
    assert config["temporal_kernel_sizes"]["fast"] == [[3], [3, 3], [3], [3]]
    rebuilt = classifier_from_arguments(**{**config, "alpha": 4, "num_frames": 8})
    assert (
        rebuilt.backbone.temporal_kernel_sizes
        == reference.backbone.temporal_kernel_sizes
    )


def test_overrides_and_input_convention(state):
    convention = {"channel_order": "bgr", "mean": [0.4, 0.5, 0.6]}
    model = convert_checkpoint(
        state, num_frames=16, input_convention=convention, progress=False
    )
    assert model.num_frames == 16 and model.alpha == 4
    assert model.preprocessor.channel_order == "bgr"
    assert model.input_convention["channel_order"] == "bgr"
    assert model.input_convention["mean"] == [0.4, 0.5, 0.6]
    assert model.input_convention["std"] == [0.225] * 3


def test_new_num_classes_drops_only_the_classifier(caplog, reference, state):
    with caplog.at_level(logging.WARNING, logger="keras_slowfast"):
        model = convert_checkpoint(state, num_frames=8, num_classes=3, progress=False)
    assert "head.projection.weight" in caplog.text and "num_classes=3" in caplog.text
    assert model.get_layer("head").proj.kernel.shape == (2048 + 256, 3)
    np.testing.assert_array_equal(
        model.backbone.get_layer("slow_res5").blocks[0].conv_c.bn.moving_mean.numpy(),
        reference.backbone.get_layer("slow_res5")
        .blocks[0]
        .conv_c.bn.moving_mean.numpy(),
    )


def test_missing_key_is_reported_with_its_target(state, blank):
    del state["s3.pathway0_nonlocal1.conv_phi.bias"]
    del state["s2.pathway1_res0.branch2.b_bn.running_mean"]
    with pytest.raises(ValueError) as info:
        load_state_dict(blank, state, progress=False)
    message = str(info.value)
    assert "2 problems" in message
    assert "missing: model weight slow_res3/nonlocal1/phi/bias (256,)" in message
    assert (
        "missing: model weight fast_res2/block0/conv_b/bn/moving_mean (8,)" in message
    )


def test_shape_mismatch_names_the_key_and_both_shapes(state, blank):
    state["s2.pathway0_res0.branch2.a.weight"] = np.zeros((64, 80, 3, 1, 1), "float32")
    with pytest.raises(ValueError) as info:
        load_state_dict(blank, state, progress=False)
    message = str(info.value)
    assert "shape mismatch: checkpoint s2.pathway0_res0.branch2.a.weight" in message
    assert "(64, 80, 3, 1, 1) (Keras layout (3, 1, 1, 80, 64))" in message
    assert "slow_res2/block0/conv_a/conv/kernel (1, 1, 1, 80, 64)" in message


def test_unexpected_and_unknown_keys_are_reported(state):
    model = classifier_from_arguments(**{**TINY, "nonlocal_blocks": None})
    with pytest.raises(
        ValueError, match="unexpected: checkpoint s3.pathway0_nonlocal0"
    ):
        load_state_dict(model, state, progress=False)
    state["s3.pathway0_res0.branch3.weight"] = np.zeros(3, "float32")
    with pytest.raises(ValueError, match="s3.pathway0_res0.branch3.weight"):
        load_state_dict(model, state, progress=False)


def test_every_weight_is_assigned(reference, state):
    model = classifier_from_arguments(**TINY)
    count = load_state_dict(model, state, progress=False)
    assert count == len(model.weights)
    for mine, theirs in zip(model.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def test_preset_must_agree_with_the_checkpoint(state):
    with pytest.raises(ValueError, match="preset 'slowfast_8x8_r101' has stage_depths"):
        convert_checkpoint(state, preset="slowfast_8x8_r101", progress=False)


def _torch_state(model):
    return {k: torch.from_numpy(v) for k, v in torch_named_state_dict(model).items()}


def test_safe_loading_of_a_plain_checkpoint_file(tmp_path, reference):
    path = tmp_path / "tiny.pyth"
    torch.save({"model_state": _torch_state(reference), "epoch": 3, "cfg": "x"}, path)
    model = convert_checkpoint(str(path), num_frames=8, progress=False)
    clip = random_clip()
    np.testing.assert_allclose(
        _outputs(model, clip), _outputs(reference, clip), atol=1e-6
    )


def test_a_checkpoint_with_pickled_objects_needs_explicit_trust(tmp_path, reference):
    path = tmp_path / "unsafe.pyth"
    torch.save({"model_state": _torch_state(reference), "extra": NotATensor(1)}, path)
    with pytest.raises(ValueError, match="trust_checkpoint=True") as info:
        convert_checkpoint(str(path), num_frames=8, progress=False)
    assert "unsafe.pyth" in str(info.value)
    with pytest.raises(ValueError, match="--trust-checkpoint"):
        load_checkpoint(path)
    model = convert_checkpoint(
        str(path), num_frames=8, trust_checkpoint=True, progress=False
    )
    clip = random_clip()
    np.testing.assert_allclose(
        _outputs(model, clip), _outputs(reference, clip), atol=1e-6
    )


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pyth"):
        load_checkpoint(tmp_path / "missing.pyth")
    garbage = tmp_path / "garbage.pyth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="garbage.pyth"):
        load_checkpoint(garbage)
    empty = tmp_path / "list.pyth"
    torch.save([1, 2], empty)
    with pytest.raises(ValueError, match="no state dict"):
        convert_checkpoint(str(empty), progress=False)


def test_importing_the_package_does_not_import_torch():
    code = (
        "import sys, keras_slowfast, keras_slowfast.convert, "
        "keras_slowfast.commands.convert\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_a_nested_backbone_keeps_its_layer_names(reference, state):
    """Any model around a SlowFastBackbone loads by the same rules."""
    import keras

    backbone = SlowFastBackbone(**split_arguments(TINY)[0])
    clip = keras.Input((8, 32, 32, 3))
    slow, fast = backbone(clip)
    pooled = keras.layers.Concatenate(name="concat")(
        [
            keras.layers.GlobalAveragePooling3D()(slow),
            keras.layers.GlobalAveragePooling3D()(fast),
        ]
    )
    head = keras.Sequential([keras.layers.Dense(5, name="proj")], name="head")
    wrapper = keras.Model(clip, head(pooled))
    assert load_state_dict(wrapper, state, progress=False) == len(wrapper.weights)
    kernel = reference.get_layer("head").proj.kernel.numpy()
    np.testing.assert_array_equal(head.layers[0].kernel.numpy(), kernel)


def test_pyslowfast_cfg_supplies_alpha_frames_and_input_convention(state):
    import yaml

    cfg = yaml.safe_dump(
        {
            "SLOWFAST": {"ALPHA": 2, "BETA_INV": 8},
            "NONLOCAL": {"INSTANTIATION": "softmax"},
            "DATA": {
                "NUM_FRAMES": 16,
                "MEAN": [0.5, 0.4, 0.3],
                "STD": [0.2, 0.2, 0.2],
                "REVERSE_INPUT_CHANNEL": True,
            },
        }
    )
    assert checkpoint_settings({"cfg": "not: [valid"}) == {}
    checkpoint = {"model_state": state, "cfg": cfg}
    assert checkpoint_settings(checkpoint)["alpha"] == 2
    model = convert_checkpoint(checkpoint, progress=False)
    assert (model.alpha, model.num_frames) == (2, 16)
    assert model.backbone.nonlocal_affinity == "softmax"
    assert model.input_convention == {
        "mean": [0.5, 0.4, 0.3],
        "std": [0.2, 0.2, 0.2],
        "channel_order": "bgr",
    }
    # Explicit arguments still win.
    model = convert_checkpoint(checkpoint, alpha=4, num_frames=8, progress=False)
    assert (model.alpha, model.num_frames) == (4, 8)


def test_a_checkpoint_without_classifier_gives_the_backbone(reference, state):
    for key in [k for k in state if k.startswith("head.")]:
        del state[key]
    model = convert_checkpoint(state, num_frames=8, progress=False)
    assert isinstance(model, SlowFastBackbone)
    slow, fast = model(random_clip(), training=False)
    expected_slow, _ = reference.backbone(random_clip(), training=False)
    np.testing.assert_allclose(np.asarray(slow), np.asarray(expected_slow), atol=1e-6)
    assert fast.shape[-1] == 256
    # With num_classes the same checkpoint gets a new, untrained head.
    assert (
        convert_checkpoint(
            state, num_frames=8, num_classes=4, progress=False
        ).num_classes
        == 4
    )


def test_a_caffe2_pickle_is_read_without_trust_under_pyslowfast_names(tmp_path):
    import pickle

    path = tmp_path / "SLOWFAST_8x8_R50.pkl"
    kernel = np.arange(64 * 3 * 49, dtype="float32").reshape(64, 3, 1, 7, 7)
    with open(path, "wb") as file:
        pickle.dump({"blobs": {"conv1_w": kernel, "conv1_w_momentum": kernel}}, file)
    arrays, keys = map_state_dict(load_checkpoint(path))
    assert keys == {"slow_stem/conv/conv/kernel": "s1.pathway0_stem.conv.weight"}
    np.testing.assert_array_equal(arrays["slow_stem/conv/conv/kernel"], kernel)
