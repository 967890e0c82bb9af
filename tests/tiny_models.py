"""Tiny configurations and models, shared by every test that needs a network."""

import numpy as np

from keras_slowfast.models import (
    SlowFastBackbone,
    SlowFastDetector,
    SlowFastVideoClassifier,
)

# One block per stage, 8 frames: the smallest SlowFast with every part.
TINY_BACKBONE = {
    "stage_depths": [1, 1, 1, 1],
    "alpha": 4,
    "beta_inv": 8,
    "num_frames": 8,
}
# The AVA detection backbone: res5 at stride 1 with dilation 2.
TINY_DETECTION_BACKBONE = {
    **TINY_BACKBONE,
    "spatial_strides": [1, 2, 2, 1],
    "spatial_dilations": [1, 1, 1, 2],
}


def tiny_backbone(**overrides):
    """A :class:`SlowFastBackbone` of ``TINY_BACKBONE`` with overrides."""
    return SlowFastBackbone(**{**TINY_BACKBONE, **overrides})


def tiny_task(num_classes=5, backbone=None, **task_arguments):
    """A tiny :class:`SlowFastVideoClassifier` (default backbone: the tiny one)."""
    return SlowFastVideoClassifier(
        backbone or tiny_backbone(), num_classes, **task_arguments
    )


def tiny_detector(num_classes=3, backbone=None, **task_arguments):
    """A tiny :class:`SlowFastDetector` on the tiny detection backbone."""
    return SlowFastDetector(
        backbone or SlowFastBackbone(**TINY_DETECTION_BACKBONE),
        num_classes,
        **task_arguments,
    )


def tiny_classifier():
    """An 8-frame, 5-class classifier of any image size, with a wide head.

    The head's kernel is redrawn from a unit normal (instead of std 0.01), so
    the 5 classes get clearly different scores and top-k orders are stable.
    """
    model = tiny_task(5)
    head = model.get_layer("head").proj
    rng = np.random.default_rng(0)
    head.kernel.assign(rng.normal(size=head.kernel.shape).astype("float32"))
    return model
