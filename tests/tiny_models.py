"""Small models shared by the tests that run whole videos through a classifier."""

import numpy as np

from keras_slowfast.models import SlowFastNet


def tiny_classifier():
    """An 8-frame, 5-class SlowFastNet of any image size, with a wide head.

    The head's kernel is redrawn from a unit normal (instead of std 0.01), so
    the 5 classes get clearly different scores and top-k orders are stable.
    """
    model = SlowFastNet(
        stage_depths=[1, 1, 1, 1],
        alpha=4,
        beta_inv=8,
        num_frames=8,
        num_classes=5,
        image_size=None,
    )
    head = model.get_layer("head").proj
    rng = np.random.default_rng(0)
    head.kernel.assign(rng.normal(size=head.kernel.shape).astype("float32"))
    return model
