"""Presets against the reference models: parameter counts and FLOPs."""

import logging

import numpy as np
import pytest
import torch

import keras_slowfast as ks
from keras_slowfast.models import presets
from keras_slowfast.models.complexity import flop_breakdown
from tests.reference import import_pytorchvideo_models, torch_param_count


def _reference(name):
    models = import_pytorchvideo_models()
    hub = models.hub
    builders = {
        "slowfast_8x8_r50": lambda: hub.slowfast_r50(pretrained=False),
        "slowfast_4x16_r50": lambda: models.slowfast.create_slowfast(
            slowfast_fusion_conv_kernel_size=(5, 1, 1),
            slowfast_fusion_conv_stride=(8, 1, 1),
            head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7)),
        ),
        "slowfast_8x8_r101": lambda: hub.slowfast_r101(pretrained=False),
        "slowfast_16x8_r101_50_50": lambda: hub.slowfast_16x8_r101_50_50(
            pretrained=False
        ),
        "slow_8x8_r50": lambda: hub.slow_r50(pretrained=False),
    }
    return builders[name]()


@pytest.mark.large
@pytest.mark.parametrize(
    "name, published",
    [
        ("slowfast_8x8_r50", 34_566_488),
        ("slowfast_4x16_r50", 34_480_216),
        ("slowfast_8x8_r101", 62_826_968),
        ("slowfast_16x8_r101_50_50", 53_774_808),
        ("slow_8x8_r50", 32_454_096),
    ],
)
def test_parameter_count_equals_pytorchvideo(name, published):
    ours = ks.count_params(ks.from_preset(name))
    reference = torch_param_count(_reference(name))
    assert reference == published  # the figure in REFERENCE.md
    assert ours == reference


@pytest.mark.large
@pytest.mark.parametrize(
    "name, frames, zoo_gflops",
    [
        ("slowfast_4x16_r50", 32, 36.69),
        ("slowfast_8x8_r50", 32, 65.71),
        ("slowfast_8x8_r101", 32, 127.20),
        ("slowfast_16x8_r101_50_50", 64, 215.61),
    ],
)
def test_flops_within_one_percent_of_the_model_zoo(name, frames, zoo_gflops):
    gflops = ks.count_flops(ks.from_preset(name), (frames, 256, 256, 3)) / 1e9
    assert abs(gflops - zoo_gflops) / zoo_gflops < 0.01, gflops


@pytest.mark.large
def test_flops_equal_fvcore_on_the_reference_model():
    """Same run, same view: our count against fvcore on PyTorchVideo slowfast_r50."""
    from fvcore.nn import FlopCountAnalysis

    reference = _reference("slowfast_8x8_r50").eval()
    clip = [torch.zeros(1, 3, 8, 256, 256), torch.zeros(1, 3, 32, 256, 256)]
    logging.disable(logging.WARNING)
    try:
        analysis = FlopCountAnalysis(reference, (clip,))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        theirs = analysis.by_operator()
    finally:
        logging.disable(logging.NOTSET)
    ours = flop_breakdown(ks.from_preset("slowfast_8x8_r50"), (32, 256, 256, 3))
    assert ours["conv"] == theirs["conv"]
    assert ours["batch_norm"] == theirs["batch_norm"]
    # PyTorchVideo's head runs its dense layer at each of 2x2 pooled positions.
    assert ours["linear"] * 4 == theirs["linear"]


def test_flops_of_a_tiny_model_by_hand():
    model = ks.models.factories.classifier_from_arguments(
        stage_depths=[1, 1, 1, 1],
        alpha=4,
        num_frames=8,
        num_classes=10,
        pathways="slow",
        image_size=None,
    )
    counts = flop_breakdown(model, (8, 32, 32, 3))
    slow_frames = 2
    stem = slow_frames * 16 * 16 * 64 * 3 * 7 * 7
    assert counts["conv"] > stem
    assert counts["linear"] == 2048 * 10
    # The stem alone, counted by the layer, matches the hand formula.
    assert (
        model.backbone.get_layer("slow_stem").flop_counts((1, 2, 32, 32, 3))["conv"]
        == stem
    )
    with pytest.raises(ValueError, match="input_shape"):
        ks.count_flops(model, (8, 32, 32))


def test_every_preset_builds_and_has_a_reference_note():
    for name in presets.preset_names():
        config = presets.preset_config(name)
        assert presets.preset_reference(name)
        assert isinstance(config, dict)
    assert len([n for n in presets.preset_names() if n.endswith("_nl")]) == 4
    np.testing.assert_equal(
        presets.preset_config("slowfast_8x8_r50_nl")["nonlocal_blocks"],
        [[], [1, 3], [1, 3, 5], []],
    )
