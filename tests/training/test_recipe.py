"""Tests for the reference recipe: schedule, weight-decay filter, loss, config."""

import math

import keras
import numpy as np
import pytest

from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training import recipe as recipe_lib
from tests.test_case import run_serialization_test


def tiny_model(num_classes=5):
    return classifier_from_arguments(
        stage_depths=[1, 1, 1, 1],
        alpha=4,
        beta_inv=8,
        num_frames=8,
        num_classes=num_classes,
        nonlocal_blocks=[[], [], [0], []],
    )


def test_reference_schedule_values_at_known_steps():
    # Reference: batch 64 -> peak 0.1, warm-up from 0.01 over 34 of 196 epochs.
    recipe = recipe_lib.TrainingRecipe()
    schedule = recipe_lib.build_schedule(recipe, steps_per_epoch=10)
    assert schedule.total_steps == 1960 and schedule.warmup_steps == 340
    at_warmup_end = 0.1 * 0.5 * (1 + math.cos(math.pi * 34 / 196))
    expected = {
        0: 0.01,
        170: 0.01 + (at_warmup_end - 0.01) * 0.5,
        340: at_warmup_end,
        980: 0.05,  # half-way through the cosine
        1960: 0.0,
        5000: 0.0,
    }
    for step, value in expected.items():
        assert float(schedule(step)) == pytest.approx(value, abs=1e-6), step
    # Warm-up is monotone up, cosine monotone down.
    values = np.array([float(schedule(s)) for s in range(0, 1961, 20)])
    assert np.all(np.diff(values[:17]) > 0) and np.all(np.diff(values[17:]) <= 0)


def test_learning_rate_scales_linearly_with_batch_size():
    recipe = recipe_lib.TrainingRecipe(batch_size=16, epochs=10, warmup_epochs=2)
    schedule = recipe_lib.build_schedule(recipe, steps_per_epoch=5)
    assert float(schedule(0)) == pytest.approx(0.01 * 16 / 64)
    no_warmup = recipe_lib.WarmupCosineDecay(0.025, total_steps=50)
    assert float(no_warmup(0)) == pytest.approx(0.025)


def test_schedule_config_round_trip():
    schedule = recipe_lib.WarmupCosineDecay(
        0.2,
        total_steps=100,
        warmup_steps=10,
        warmup_start=0.02,
        end_learning_rate=0.001,
    )
    restored = recipe_lib.WarmupCosineDecay.from_config(schedule.get_config())
    for step in (0, 5, 10, 50, 100):
        assert float(restored(step)) == pytest.approx(float(schedule(step)))
    serialized = keras.optimizers.schedules.serialize(schedule)
    again = keras.optimizers.schedules.deserialize(serialized)
    assert isinstance(again, recipe_lib.WarmupCosineDecay)


def test_schedule_rejects_bad_arguments():
    with pytest.raises(ValueError, match="warmup_steps"):
        recipe_lib.WarmupCosineDecay(0.1, total_steps=10, warmup_steps=20)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        recipe_lib.build_schedule(recipe_lib.TrainingRecipe(), 0)
    with pytest.raises(ValueError, match="warmup_epochs"):
        recipe_lib.TrainingRecipe(epochs=10, warmup_epochs=20)
    with pytest.raises(ValueError, match="unknown training options"):
        recipe_lib.TrainingRecipe.from_dict({"epochs": 3, "lr": 0.1})


def test_weight_decay_skips_batch_norm_and_biases():
    model = tiny_model()
    exempt = recipe_lib.decay_exempt_variables(model)
    decayed = recipe_lib.decayed_variables(model)
    names = {v.name for v in exempt}
    assert names == {"gamma", "beta", "bias"}
    assert {v.name for v in decayed} == {"kernel"}
    assert len(exempt) + len(decayed) == len(model.trainable_variables)

    recipe = recipe_lib.TrainingRecipe(
        batch_size=64, epochs=1, warmup_epochs=0, weight_decay=0.1
    )
    optimizer = recipe_lib.build_optimizer(model, recipe, steps_per_epoch=10)
    # BN gammas are 1 and betas/biases 0 at init: give them non-trivial values.
    for variable in exempt:
        variable.assign(np.full(variable.shape, 0.5, "float32"))
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    zero_grads = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    optimizer.apply_gradients(zip(zero_grads, model.trainable_variables, strict=True))
    lr = 0.1  # peak, step 0, no warm-up
    exempt_ids = {id(v) for v in exempt}
    for variable, old in zip(model.trainable_variables, before, strict=True):
        new = keras.ops.convert_to_numpy(variable)
        if id(variable) in exempt_ids:
            np.testing.assert_array_equal(new, old, err_msg=variable.path)
        else:
            np.testing.assert_allclose(new, old * (1 - lr * 0.1), rtol=1e-5)


def test_label_smoothing_loss_matches_dense_labels():
    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], "float32")
    labels = np.array([0, 2])
    loss = recipe_lib.SparseLabelSmoothingCrossentropy(0.1)
    dense = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert float(loss(labels, logits)) == pytest.approx(
        float(dense(np.eye(3)[labels], logits)), rel=1e-5
    )
    run_serialization_test(loss)
    recipe = recipe_lib.TrainingRecipe(label_smoothing=0.1)
    assert isinstance(
        recipe_lib.build_loss(recipe), recipe_lib.SparseLabelSmoothingCrossentropy
    )
    multi = recipe_lib.build_loss(recipe_lib.TrainingRecipe(multi_label=True))
    assert isinstance(multi, keras.losses.BinaryCrossentropy)


def test_mixed_precision_policy():
    assert recipe_lib.mixed_precision_policy(True) == "mixed_bfloat16"  # CPU
    assert recipe_lib.mixed_precision_policy(False) == "float32"
    assert keras.config.dtype_policy().name == "float32"  # not set globally
