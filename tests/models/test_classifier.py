"""SlowFastVideoClassifier: the shared task checks, the head, factories, loading."""

import keras
import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast.models import SlowFastVideoClassifier, VideoPreprocessor
from tests.test_case import assert_close, run_task_test
from tests.tiny_models import TINY_BACKBONE, tiny_backbone, tiny_task


def _clip(frames=8, size=32, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, frames, size, size, 3)).astype("float32")


def test_classifier_shared_checks_and_weight_count():
    preprocessor = VideoPreprocessor(
        mean=[0.4, 0.45, 0.5], std=[0.2, 0.225, 0.25], channel_order="bgr"
    )

    def build(dtype=None):
        return SlowFastVideoClassifier(
            tiny_backbone(dtype=dtype), 5, preprocessor=preprocessor
        )

    labels = keras.utils.to_categorical([0, 3], 5)
    task = run_task_test(
        build,
        _clip(),
        labels,
        keras.losses.CategoricalCrossentropy(from_logits=True),
        (2, 5),
        # the backbone's weights + the head's (2048 + 256) * 5 + 5
        expected_weight_count=ks.count_params(tiny_backbone()) + 2304 * 5 + 5,
    )
    assert task.input_convention["channel_order"] == "bgr"
    assert task.feature_channels == 2304


def test_task_attributes_come_from_the_backbone():
    task = tiny_task(3, activation="softmax", dropout_rate=0.2)
    assert (task.num_frames, task.alpha, task.pathways) == (8, 4, "slowfast")
    assert task.image_size is None and task.activation == "softmax"
    assert task.input_convention == VideoPreprocessor().input_convention
    config = task.get_config()
    assert config["backbone"]["config"]["stage_depths"] == [1, 1, 1, 1]
    assert {"num_classes", "dropout_rate", "activation", "preprocessor"} <= set(config)


def test_one_backbone_serves_two_tasks():
    backbone = tiny_backbone()
    first, second = tiny_task(3, backbone=backbone), tiny_task(7, backbone=backbone)
    clip = _clip(batch=1)
    assert first(clip).shape == (1, 3) and second(clip).shape == (1, 7)
    slow, fast = backbone(clip)
    # The classifier's head reads exactly the backbone's maps.
    pooled = np.concatenate(
        [np.asarray(slow).mean(axis=(1, 2, 3)), np.asarray(fast).mean(axis=(1, 2, 3))],
        axis=-1,
    )
    proj = first.get_layer("head").proj
    expected = pooled @ np.asarray(proj.kernel) + np.asarray(proj.bias)
    assert_close(first(clip, training=False), expected, atol=1e-4)


def test_fully_convolutional_softmax_head_matches_global_on_crop_size():
    backbone = tiny_backbone()
    model = tiny_task(5, backbone=backbone, activation="softmax")
    fc = tiny_task(
        5, backbone=backbone, activation="softmax", head_spatial_pool_size=[1, 1]
    )
    fc.get_layer("head").set_weights(model.get_layer("head").get_weights())
    probabilities = np.asarray(fc(_clip(), training=False))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    # On a 32x32 clip the final map is 1x1, so both heads agree exactly.
    assert_close(probabilities, model(_clip(), training=False))


def test_factories_split_backbone_and_task_arguments():
    model = ks.SlowFastR50(
        alpha=4,
        num_classes=3,
        activation="sigmoid",
        image_size=[64, 64],
        dtype="mixed_bfloat16",
        name="mine",
    )
    assert isinstance(model, SlowFastVideoClassifier) and model.name == "mine"
    assert model.backbone.image_size == [64, 64] and model.activation == "sigmoid"
    assert model.backbone.dtype_argument == "mixed_bfloat16"
    assert model.get_layer("head").dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: SlowFastVideoClassifier(keras.Sequential(), 3), "SlowFastBackbone"),
        (lambda: tiny_task(3, activation="relu"), "activation"),
        (lambda: tiny_task(0), "num_classes"),
        (lambda: tiny_task(3, preprocessor={"mean": 1}), "preprocessor"),
    ],
)
def test_bad_arguments_name_the_problem(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_input_shape_errors_name_the_expected_shape():
    task = tiny_task(3)
    with pytest.raises(ValueError, match="8 frames"):
        task(np.zeros((1, 16, 32, 32, 3), "float32"))


def test_backbone_config_keys_match_the_preset_vocabulary():
    from keras_slowfast.models.presets import preset_config, preset_names

    names = set(ks.SlowFastBackbone().get_config())
    for preset in preset_names():
        assert set(preset_config(preset)) <= names, preset
    assert set(TINY_BACKBONE) <= names


def test_score_activation_is_one_rule_for_every_path():
    from keras_slowfast.models.task import score_activation
    from tests.tiny_models import tiny_detector

    logits, probabilities = tiny_task(3), tiny_task(3, activation="sigmoid")
    assert score_activation(logits) == "softmax"
    assert score_activation(logits, multi_label=True) == "sigmoid"
    assert score_activation(probabilities) == "none"
    assert score_activation(tiny_detector(3, activation=None)) == "sigmoid"
    assert score_activation(logits, "none") == "none"
    with pytest.raises(ValueError, match="activation='relu'"):
        score_activation(logits, "relu")
