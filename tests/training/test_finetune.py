"""Tests for finetune_model: new head, weights copied by name, frozen backbone."""

import json

import keras
import numpy as np
import pytest

from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training import finetune_model

TINY = dict(stage_depths=[1, 1, 1, 1], alpha=4, beta_inv=8, num_frames=8)


def test_finetune_from_weights_file_copies_backbone_and_replaces_head(tmp_path):
    source = classifier_from_arguments(**TINY, num_classes=5)
    path = tmp_path / "src.weights.h5"
    source.save_weights(str(path))
    (tmp_path / "src.config.json").write_text(json.dumps(source.get_config()))
    model = finetune_model(str(path), 3, freeze_backbone=True)
    assert model.num_classes == 3
    assert model.get_layer("head").proj.kernel.shape[-1] == 3
    assert model.copied_layers == sum(1 for x in source.backbone.layers if x.weights)
    for layer in model.backbone.layers:
        if not layer.weights:
            continue
        assert not layer.trainable
        for a, b in zip(
            layer.weights, source.backbone.get_layer(layer.name).weights, strict=True
        ):
            assert a is not b  # a copy: training one leaves the other alone
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
            )
    assert {v.path.split("/")[0] for v in model.trainable_variables} == {"head"}


def test_finetune_from_keras_file_and_errors(tmp_path):
    source = classifier_from_arguments(**TINY, num_classes=5)
    path = str(tmp_path / "src.keras")
    source.save(path)
    model = finetune_model(path, 7, dropout_rate=0.2)
    assert model.num_classes == 7 and model.dropout_rate == 0.2
    assert all(layer.trainable for layer in model.layers)
    with pytest.raises(ValueError, match="config"):
        source.save_weights(str(tmp_path / "lonely.weights.h5"))
        finetune_model(str(tmp_path / "lonely.weights.h5"), 3)
    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        finetune_model(str(tmp_path / "nothing.keras"), 3)
    with pytest.raises(ValueError, match="num_classes"):
        finetune_model(source, 0)
