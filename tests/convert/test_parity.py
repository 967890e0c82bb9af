"""Logit parity with the PyTorchVideo reference models (random weights).

Each test builds a full-size PyTorchVideo SlowFast with random weights, random
BatchNorm statistics and random BN scales/offsets, converts its checkpoint and
runs both models in inference mode on the same random clip. PyTorchVideo's
head average-pools with a fixed kernel sized for 224x224 crops ((T, 7, 7)) and
then averages the pooled logits; for the 64x64 clips used here the final maps
are 2x2, so the reference is built with ``head_pool_kernel_sizes`` equal to the
whole final map ((T_slow, 2, 2), (T_fast, 2, 2)), which makes its pooling
global like ours.
"""

import numpy as np
import pytest
import torch

from keras_slowfast.convert import convert_checkpoint, load_state_dict
from keras_slowfast.models.factories import classifier_from_arguments
from tests.convert.torch_reference import (
    insert_nonlocal,
    pytorchvideo_models,
    pytorchvideo_to_pyslowfast,
    randomize,
    state_dict_numpy,
    torch_logits,
)

# These tests read and write torch checkpoints (the "torch" extra).
pytestmark = pytest.mark.torch

SIZE = 64  # final feature maps 2x2
TOLERANCE = 1e-4


def _clip(num_frames, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(1, num_frames, SIZE, SIZE, 3)).astype("float32")


def _check_parity(name, torch_model, keras_model, num_frames, alpha):
    """Asserts max |logit difference| <= TOLERANCE; returns the torch logits."""
    clip = _clip(num_frames)
    expected = torch_logits(torch_model, clip, alpha)
    actual = np.asarray(keras_model(clip, training=False))
    difference = float(np.abs(actual - expected).max())
    print(
        f"{name}: max |logit difference| = {difference:.2e} "
        f"(logits up to {np.abs(expected).max():.2f})"
    )
    assert actual.shape == expected.shape
    assert np.abs(expected).max() > 0.5  # the comparison is not between near-zeros
    assert difference <= TOLERANCE
    return expected


@pytest.mark.large
def test_pytorchvideo_slowfast_r50_checkpoint_file(tmp_path):
    hub = pytorchvideo_models().hub
    torch_model = randomize(
        hub.slowfast.slowfast_r50(
            pretrained=False, head_pool_kernel_sizes=((8, 2, 2), (32, 2, 2))
        )
    )
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": torch_model.state_dict(), "epoch": 196}, path)
    keras_model = convert_checkpoint(str(path), source="pytorchvideo")
    assert keras_model.backbone.stage_depths == [3, 4, 6, 3]
    assert (
        keras_model.backbone.fusion_kernel_size == 7 and keras_model.num_classes == 400
    )
    _check_parity("PyTorchVideo slowfast_r50", torch_model, keras_model, 32, 4)


@pytest.mark.large
def test_pytorchvideo_slowfast_16x8_r101_50_50():
    hub = pytorchvideo_models().hub
    torch_model = hub.slowfast.slowfast_16x8_r101_50_50(pretrained=False)
    # The hub function fixes the head pools at (16, 7, 7), (64, 7, 7); make them
    # global for 64x64 clips.
    pools = torch_model.blocks[5].pool
    assert pools[0].kernel_size == (16, 7, 7)
    pools[0] = torch.nn.AvgPool3d((16, 2, 2), stride=1)
    pools[1] = torch.nn.AvgPool3d((64, 2, 2), stride=1)
    randomize(torch_model, seed=1)
    keras_model = convert_checkpoint(
        {"model_state": torch_model.state_dict()},
        source="pytorchvideo",
        preset="slowfast_16x8_r101_50_50",
        progress=False,
    )
    assert keras_model.num_frames == 64 and keras_model.backbone.stage_depths == [
        3,
        4,
        23,
        3,
    ]
    assert keras_model.backbone.temporal_kernel_sizes["slow"][2] == [3] * 6 + [1] * 17
    _check_parity(
        "PyTorchVideo slowfast_16x8_r101_50_50", torch_model, keras_model, 64, 4
    )


@pytest.mark.large
def test_pyslowfast_named_r50_with_nonlocal_blocks():
    """PySlowFast names and the non-local path, against a torch reference.

    The PyTorchVideo R50 gets PySlowFast-style non-local blocks (written
    independently in ``torch_reference.TorchNonLocal``) after Slow res3 blocks
    1, 3 and res4 blocks 1, 3, 5 (the NL R50 placement); its state dict is then
    renamed to PySlowFast's native keys.
    """
    models = pytorchvideo_models()
    torch_model = models.slowfast.create_slowfast(
        model_depth=50,
        slowfast_fusion_conv_kernel_size=(5, 1, 1),
        head_pool_kernel_sizes=((8, 2, 2), (32, 2, 2)),
    )
    insert_nonlocal(torch_model, 3, [1, 3])
    insert_nonlocal(torch_model, 4, [1, 3, 5])
    randomize(torch_model, seed=2)
    state = {
        pytorchvideo_to_pyslowfast(key): value
        for key, value in state_dict_numpy(torch_model).items()
    }
    assert "s3.pathway0_nonlocal3.conv_theta.bias" in state
    assert "s4.pathway0_res5.branch2.c_bn.running_var" in state
    keras_model = convert_checkpoint(
        {"model_state": state}, source="pyslowfast", preset="slowfast_8x8_r50_nl"
    )
    assert keras_model.backbone.nonlocal_blocks == [[], [1, 3], [1, 3, 5], []]
    expected = _check_parity(
        "PySlowFast-named SlowFast 8x8 R50 NL", torch_model, keras_model, 32, 4
    )
    # The non-local path carries weight: without it the logits move far.
    for stage in ("slow_res3", "slow_res4"):
        for block in keras_model.backbone.get_layer(stage).nonlocal_layers:
            block.bn.gamma.assign(np.zeros(block.bn.gamma.shape, "float32"))
            block.bn.beta.assign(np.zeros(block.bn.beta.shape, "float32"))
    without = np.asarray(keras_model(_clip(32), training=False))
    assert np.abs(without - expected).max() > 0.1


@pytest.mark.large
def test_pytorchvideo_detection_checkpoint_keys_load():
    """The detection layout (``model.`` prefix, ``detection_head.proj``) maps fully.

    The detection backbone (res5 stride 1, dilation 2) has the backbone
    layer names, so a classifier with the same strides and an 80-class head
    takes every weight; the end-to-end detection parity test lives with the
    detection model.
    """
    models = pytorchvideo_models()
    torch_model = randomize(
        models.hub.slowfast.slowfast_r50_detection(pretrained=False)
    )
    state = state_dict_numpy(torch_model)
    assert (
        "model.blocks.4.multipathway_blocks.0.res_blocks.0.branch2.conv_b.weight"
        in state
    )
    keras_model = classifier_from_arguments(
        stage_depths=[3, 4, 6, 3],
        alpha=4,
        num_classes=80,
        spatial_strides=[1, 2, 2, 1],
        spatial_dilations=[1, 1, 1, 2],
    )
    assert load_state_dict(keras_model, state, progress=False) == len(
        keras_model.weights
    )
    res5 = torch_model.model.blocks[4].multipathway_blocks[0].res_blocks[1]
    np.testing.assert_array_equal(
        keras_model.backbone.get_layer("slow_res5")
        .blocks[1]
        .conv_b.conv.kernel.numpy(),
        res5.branch2.conv_b.weight.detach().numpy().transpose(2, 3, 4, 1, 0),
    )
    np.testing.assert_array_equal(
        keras_model.get_layer("head").proj.kernel.numpy(),
        torch_model.detection_head.proj.weight.detach().numpy().T,
    )


@pytest.mark.large
def test_pytorchvideo_slow_r50_single_pathway():
    """PyTorchVideo's Slow-only ResNet (no ``multipathway_blocks`` level)."""
    torch_model = pytorchvideo_models().hub.resnet.slow_r50(pretrained=False)
    assert torch_model.blocks[5].pool.kernel_size == (8, 7, 7)
    torch_model.blocks[5].pool = torch.nn.AvgPool3d((8, 2, 2), stride=1)
    randomize(torch_model, seed=3)
    keras_model = convert_checkpoint(torch_model.state_dict(), progress=False)
    assert keras_model.pathways == "slow" and keras_model.num_frames == 8
    clip = _clip(8)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(clip.transpose(0, 4, 1, 2, 3).copy()))
    expected = expected.numpy()
    actual = np.asarray(keras_model(clip, training=False))
    difference = float(np.abs(actual - expected).max())
    print(f"PyTorchVideo slow_r50: max |logit difference| = {difference:.2e}")
    assert np.abs(expected).max() > 0.5
    assert difference <= TOLERANCE
