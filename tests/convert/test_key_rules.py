"""Checkpoint key -> Keras target rules, tensor layouts and source detection."""

import numpy as np
import pytest

from keras_slowfast.convert import (
    detect_source,
    map_state_dict,
    pyslowfast,
    pytorchvideo,
    torch_to_keras,
)


@pytest.mark.parametrize(
    "key, target",
    [
        ("blocks.0.multipathway_blocks.0.conv.weight", "slow_stem/conv/conv/kernel"),
        (
            "blocks.0.multipathway_blocks.1.norm.running_var",
            "fast_stem/conv/bn/moving_variance",
        ),
        (
            "blocks.0.multipathway_fusion.conv_fast_to_slow.weight",
            "fuse_stem/conv/conv/kernel",
        ),
        ("blocks.3.multipathway_fusion.norm.bias", "fuse_res4/conv/bn/beta"),
        (
            "blocks.1.multipathway_blocks.0.res_blocks.0.branch1_conv.weight",
            "slow_res2/block0/shortcut/conv/kernel",
        ),
        (
            "blocks.1.multipathway_blocks.0.res_blocks.0.branch1_norm.weight",
            "slow_res2/block0/shortcut/bn/gamma",
        ),
        (
            "blocks.3.multipathway_blocks.1.res_blocks.22.branch2.norm_b.running_mean",
            "fast_res4/block22/conv_b/bn/moving_mean",
        ),
        (
            "blocks.4.multipathway_blocks.0.res_blocks.2.branch2.conv_c.weight",
            "slow_res5/block2/conv_c/conv/kernel",
        ),
        ("blocks.6.proj.weight", "head/proj/kernel"),
        ("blocks.6.proj.bias", "head/proj/bias"),
        # Detection layout: backbone under "model.", classifier in detection_head.
        (
            "model.blocks.4.multipathway_blocks.1.res_blocks.2.branch2.norm_c.weight",
            "fast_res5/block2/conv_c/bn/gamma",
        ),
        ("model.blocks.2.multipathway_fusion.norm.weight", "fuse_res3/conv/bn/gamma"),
        ("detection_head.proj.weight", "head/proj/kernel"),
        ("detection_head.proj.bias", "head/proj/bias"),
        # Single-pathway ResNet (slow_r50) maps onto the Slow pathway.
        ("blocks.0.conv.weight", "slow_stem/conv/conv/kernel"),
        (
            "blocks.2.res_blocks.1.branch2.conv_a.weight",
            "slow_res3/block1/conv_a/conv/kernel",
        ),
        ("blocks.5.proj.bias", "head/proj/bias"),
    ],
)
def test_pytorchvideo_rules(key, target):
    assert pytorchvideo.map_key(key) == target


@pytest.mark.parametrize(
    "key, target",
    [
        ("s1.pathway0_stem.conv.weight", "slow_stem/conv/conv/kernel"),
        ("s1.pathway1_stem.bn.weight", "fast_stem/conv/bn/gamma"),
        ("s1_fuse.conv_f2s.weight", "fuse_stem/conv/conv/kernel"),
        ("s4_fuse.bn.running_mean", "fuse_res4/conv/bn/moving_mean"),
        ("s2.pathway0_res0.branch1.weight", "slow_res2/block0/shortcut/conv/kernel"),
        ("s2.pathway1_res0.branch1_bn.bias", "fast_res2/block0/shortcut/bn/beta"),
        ("s3.pathway0_res3.branch2.a.weight", "slow_res3/block3/conv_a/conv/kernel"),
        ("s3.pathway1_res1.branch2.a_bn.weight", "fast_res3/block1/conv_a/bn/gamma"),
        ("s4.pathway0_res20.branch2.b.weight", "slow_res4/block20/conv_b/conv/kernel"),
        (
            "s5.pathway1_res2.branch2.c_bn.running_var",
            "fast_res5/block2/conv_c/bn/moving_variance",
        ),
        ("s3.pathway0_nonlocal1.conv_theta.weight", "slow_res3/nonlocal1/theta/kernel"),
        ("s3.pathway0_nonlocal1.conv_theta.bias", "slow_res3/nonlocal1/theta/bias"),
        ("s4.pathway0_nonlocal5.conv_phi.bias", "slow_res4/nonlocal5/phi/bias"),
        ("s4.pathway0_nonlocal13.conv_g.weight", "slow_res4/nonlocal13/g/kernel"),
        ("s4.pathway0_nonlocal6.conv_out.weight", "slow_res4/nonlocal6/out/kernel"),
        ("s4.pathway0_nonlocal6.bn.weight", "slow_res4/nonlocal6/bn/gamma"),
        ("head.projection.weight", "head/proj/kernel"),
        ("head.projection.bias", "head/proj/bias"),
    ],
)
def test_pyslowfast_rules(key, target):
    assert pyslowfast.map_key(key) == target


@pytest.mark.parametrize(
    "key",
    [
        "blocks.7.something.weight",
        "blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_d.weight",
        "blocks.0.multipathway_blocks.2.conv.weight",
        "blocks.0.multipathway_blocks.0.norm.scale",
    ],
)
def test_pytorchvideo_unknown_keys_map_to_none(key):
    assert pytorchvideo.map_key(key) is None


@pytest.mark.parametrize(
    "key",
    ["s6.pathway0_res0.branch2.a.weight", "s1_fuse.conv.weight", "head.proj.weight"],
)
def test_pyslowfast_unknown_keys_map_to_none(key):
    assert pyslowfast.map_key(key) is None


def test_map_state_dict_ignores_batch_counters_and_lists_unknown_keys():
    state = {
        "s1.pathway0_stem.bn.weight": np.ones(4, "float32"),
        "s1.pathway0_stem.bn.num_batches_tracked": np.array(3),
    }
    arrays, keys = map_state_dict(state, "pyslowfast")
    assert list(arrays) == ["slow_stem/conv/bn/gamma"]
    assert keys["slow_stem/conv/bn/gamma"] == "s1.pathway0_stem.bn.weight"
    state["s1.pathway0_stem.bn.extra"] = np.ones(2, "float32")
    state["s9.weird"] = np.ones(3, "float32")
    with pytest.raises(ValueError, match="2 checkpoint keys") as info:
        map_state_dict(state, "pyslowfast")
    assert "s1.pathway0_stem.bn.extra (2,)" in str(info.value)
    assert "s9.weird (3,)" in str(info.value)


def test_map_state_dict_unwraps_model_state_and_module_prefix():
    state = {"module.head.projection.bias": np.zeros(3, "float32")}
    arrays, keys = map_state_dict({"model_state": state, "epoch": 3}, "auto")
    assert list(arrays) == ["head/proj/bias"]
    assert keys["head/proj/bias"] == "head.projection.bias"


def test_map_state_dict_rejects_a_bad_source():
    with pytest.raises(ValueError, match="source='caffe2'"):
        map_state_dict({"a": np.zeros(1)}, "caffe2")


def test_detect_source():
    assert (
        detect_source(["blocks.0.multipathway_blocks.0.conv.weight"]) == "pytorchvideo"
    )
    assert detect_source(
        ["model.blocks.0.conv.weight", "detection_head.proj.bias"]
    ) == ("pytorchvideo")
    assert (
        detect_source(["s1.pathway0_stem.conv.weight", "s1_fuse.bn.bias"])
        == "pyslowfast"
    )
    with pytest.raises(ValueError, match="naming scheme"):
        detect_source(["backbone.layer1.weight"])


def test_torch_to_keras_layouts():
    conv = np.arange(2 * 3 * 4 * 5 * 6).reshape(2, 3, 4, 5, 6)  # (out, in, t, h, w)
    kernel = torch_to_keras(conv)
    assert kernel.shape == (4, 5, 6, 3, 2)
    assert kernel[1, 2, 3, 1, 0] == conv[0, 1, 1, 2, 3]
    linear = np.arange(6).reshape(2, 3)  # (out, in)
    assert torch_to_keras(linear).shape == (3, 2)
    assert torch_to_keras(linear)[2, 1] == linear[1, 2]
    vector = np.arange(4)
    np.testing.assert_array_equal(torch_to_keras(vector), vector)
