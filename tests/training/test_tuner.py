"""Tests for the keras-tuner HyperModel."""

import keras_tuner
import pytest

from keras_slowfast.training import TrainingRecipe
from keras_slowfast.training.tuner import SlowFastHyperModel

BASE = {"stage_depths": [1, 1, 1, 1], "num_frames": 8, "num_classes": 4}


def test_hypermodel_builds_sampled_architecture_and_recipe():
    hypermodel = SlowFastHyperModel(
        BASE, TrainingRecipe(epochs=2, warmup_epochs=0), steps_per_epoch=3
    )
    hp = keras_tuner.HyperParameters()
    hp.Fixed("alpha", 2)
    hp.Fixed("beta_inv", 4)
    hp.Fixed("fusion_kernel_size", 3)
    hp.Fixed("learning_rate", 0.2)
    hp.Fixed("weight_decay", 1e-3)
    model = hypermodel.build(hp)
    backbone = model.backbone
    assert (backbone.alpha, backbone.beta_inv, backbone.fusion_kernel_size) == (2, 4, 3)
    # 0.2 per 64 clips at the recipe's batch of 64, no warm-up: peak at step 0.
    assert float(model.optimizer.learning_rate) == pytest.approx(0.2)
    assert model.optimizer.weight_decay == pytest.approx(1e-3)
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    assert {p.name for p in space.space} == {
        "alpha",
        "beta_inv",
        "fusion_kernel_size",
        "learning_rate",
        "weight_decay",
    }


def test_hypermodel_rejects_bad_search_space():
    with pytest.raises(ValueError, match="do not divide"):
        SlowFastHyperModel({**BASE, "num_frames": 6}, search_space={"alpha": [4]})
    with pytest.raises(ValueError, match="not searched"):
        SlowFastHyperModel(BASE, search_space={"depth": [50]})
