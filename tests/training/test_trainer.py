"""Tests for train() / evaluate(): overfitting, resuming, configs, outputs."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast.data import synthetic
from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training import trainer
from keras_slowfast.training.recipe import TrainingRecipe

TINY = dict(stage_depths=[1, 1, 1, 1], alpha=4, beta_inv=8, num_frames=8)


def tiny_model(num_classes=8, dropout_rate=0.0):
    return classifier_from_arguments(
        **TINY, num_classes=num_classes, dropout_rate=dropout_rate
    )


def clips(num, seed=0):
    return synthetic.make_motion_dataset(num, seed=seed, num_frames=8, image_size=32)


def test_tiny_model_overfits_a_handful_of_clips():
    x, y = clips(8)
    recipe = TrainingRecipe(
        epochs=30,
        warmup_epochs=2,
        batch_size=8,
        base_learning_rate=0.05,
        reference_batch_size=8,
        weight_decay=0.0,
        dropout_rate=0.0,
    )
    history = trainer.train(tiny_model(), (x, y), recipe=recipe, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.1 * losses[0], losses
    assert history.history["accuracy"][-1] == 1.0, history.history["accuracy"]


class KillAt(keras.callbacks.Callback):
    """Simulates a killed job: raises when epoch ``epoch`` begins."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("killed")


def test_resume_after_interruption_continues_the_same_run(tmp_path):
    x, y = clips(8)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)  # fixed order
    recipe = TrainingRecipe(
        epochs=3,
        warmup_epochs=1,
        batch_size=4,
        reference_batch_size=4,
        base_learning_rate=0.05,
        dropout_rate=0.0,
    )
    options = dict(recipe=recipe, checkpoints=False, tensorboard=False, verbose=0)

    keras.utils.set_random_seed(1)
    reference = trainer.train(
        tiny_model, data, output_dir=str(tmp_path / "a"), **options
    ).model

    keras.utils.set_random_seed(1)
    with pytest.raises(RuntimeError, match="killed"):
        trainer.train(
            tiny_model,
            data,
            output_dir=str(tmp_path / "b"),
            callbacks=[KillAt(1)],
            **options,
        )
    assert os.path.exists(tmp_path / "b" / "backup")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(e)
    )
    keras.utils.set_random_seed(99)  # a different init: the backup must win
    history = trainer.train(
        tiny_model, data, output_dir=str(tmp_path / "b"), callbacks=[record], **options
    )
    resumed = history.model
    assert seen == [1, 2]
    assert int(resumed.optimizer.iterations) == int(reference.optimizer.iterations) == 6
    for a, b in zip(reference.weights, resumed.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a),
            keras.ops.convert_to_numpy(b),
            rtol=1e-4,
            atol=1e-5,
            err_msg=a.path,
        )


def test_train_from_config_writes_checkpoints_logs_and_reports(tmp_path):
    config = {
        "model": {**TINY, "num_classes": 8},
        "data": {
            "type": "synthetic",
            "num_clips": 8,
            "num_validation_clips": 8,
            "num_frames": 8,
            "image_size": 32,
        },
        "training": {
            "epochs": 1,
            "warmup_epochs": 0,
            "batch_size": 4,
            "label_smoothing": 0.1,
        },
        "output_dir": str(tmp_path),
        "seed": 0,
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    model, history, results = trainer.train_from_config(str(path), verbose=0)
    assert len(history.history["loss"]) == 1
    assert set(results) == {"top1", "top5", "num_videos"} and results["num_videos"] == 8
    for name in (
        "checkpoints/last.keras",
        "checkpoints/best.keras",
        "recipe.json",
        "model.keras",
        "evaluation/per_class.csv",
        "evaluation/confusion_matrix.png",
    ):
        assert (tmp_path / name).exists(), name
    assert os.listdir(tmp_path / "logs")
    reloaded = keras.saving.load_model(str(tmp_path / "model.keras"))
    np.testing.assert_allclose(
        reloaded.predict(clips(2)[0], verbose=0),
        model.predict(clips(2)[0], verbose=0),
        atol=1e-4,
    )


def test_yaml_config_and_errors(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: {preset: slowfast_r50}\ndata: {type: synthetic}\n"
        "training: {epochs: 3, warmup_epochs: 1, batch_size: 2}\n"
    )
    config = trainer.load_config(str(path))
    assert config["training"]["epochs"] == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {}\ndata: {}\ntraining: {lr: 1}\n")
    with pytest.raises(ValueError, match="unknown training options"):
        trainer.load_config(str(bad))
    with pytest.raises(ValueError, match="unknown key optimizer; valid keys: backup"):
        trainer.check_config({"model": {}, "data": {}, "optimizer": {}})
    with pytest.raises(FileNotFoundError, match="missing.json"):
        trainer.load_config(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="model.factory"):
        trainer.build_model({"factory": "ResNet"})
    assert (
        trainer.build_model(
            {
                "factory": "SlowOnly",
                "depth": 50,
                "num_classes": 3,
                "num_frames": 8,
                "alpha": 4,
            }
        ).pathways
        == "slow"
    )


def test_evaluate_multi_label(tmp_path):
    model = classifier_from_arguments(**TINY, num_classes=3, dropout_rate=0.0)
    x = clips(6)[0]
    targets = np.array(
        [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]]
    )
    results = trainer.evaluate(
        model, (x, targets), multi_label=True, output_dir=str(tmp_path)
    )
    assert 0.0 < results["mAP"] <= 1.0
    assert (tmp_path / "per_class.csv").exists()


def test_mixed_precision_by_argument_keeps_logits_float32(tmp_path):
    config = {
        "model": {"stage_depths": [1, 1, 1, 1], "num_frames": 8, "num_classes": 8},
        "data": {"type": "synthetic", "num_clips": 8, "num_frames": 8,
                 "image_size": 32},
        "training": {"epochs": 1, "batch_size": 4, "mixed_precision": True},
        "output_dir": str(tmp_path),
    }  # fmt: skip
    model, history, _ = trainer.train_from_config(config, verbose=0)
    assert keras.config.dtype_policy().name == "float32"  # never set globally
    assert np.isfinite(history.history["loss"]).all()
    inner = model.backbone.get_layer("slow_res2").blocks[0].conv_a.conv
    assert inner.compute_dtype == "bfloat16"  # no GPU here
    assert model.get_layer("head").compute_dtype == "float32"
    logits = model(clips(2)[0], training=False)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_config_keys_and_paths_are_checked_before_anything_runs(tmp_path, caplog):
    def check(**sections):
        return trainer.check_config({"model": {}, "data": {}, **sections})

    with pytest.raises(ValueError, match=r"model: unknown key num_clases; valid keys"):
        check(model={"preset": "slowfast_r50", "num_clases": 10})
    with pytest.raises(ValueError, match=r"valid keys: .*layout"):
        check(model={"factory": "SlowFastR101", "layot": "all"})
    check(model={"factory": "SlowFastR101", "layout": "all", "beta": 0.125})
    with pytest.raises(ValueError, match=r"data \(synthetic\): unknown key frames"):
        check(data={"frames": 8})
    with pytest.raises(FileNotFoundError, match=r"data.validation .*: folder not"):
        check(data={"type": "folder", "train": str(tmp_path), "validation": "nope"})
    with pytest.raises(ValueError, match=r"data \(folder\): unknown key shufle"):
        check(data={"type": "folder", "train": str(tmp_path), "shufle": 1})
    with pytest.raises(FileNotFoundError, match="model.finetune_from gone.keras"):
        check(model={"finetune_from": "gone.keras", "num_classes": 3})
    with pytest.raises(ValueError, match="distribution: unknown key stratgy"):
        check(distribution={"stratgy": "mirrored"})
    with pytest.raises(ValueError, match="backup: unknown key every_step;"):
        check(backup={"every_step": 5})


def test_warmup_scales_with_epochs_when_not_given(caplog):
    from keras_slowfast.training import recipe as recipe_lib

    recipe_lib._SCALED_WARMUP_LOGGED.discard(7)  # logged once per epoch count
    with caplog.at_level("INFO", logger="keras_slowfast"):
        recipe = TrainingRecipe(epochs=7)
        TrainingRecipe(epochs=7)
    assert recipe.warmup_epochs == pytest.approx(7 * 34 / 196, abs=1e-3)
    assert (
        caplog.text.count("warmup_epochs not set: 1.214, the reference's 34 of 196")
        == 1
    )
    assert TrainingRecipe(epochs=6).warmup_epochs == pytest.approx(1.041, abs=1e-3)
    assert TrainingRecipe().warmup_epochs == 34
    assert TrainingRecipe(epochs=6, warmup_epochs=2).warmup_epochs == 2
    with pytest.raises(
        ValueError, match=r"warmup_epochs=34 must be in \[0, epochs=6\]"
    ):
        TrainingRecipe(epochs=6, warmup_epochs=34)


def test_the_data_is_normalized_with_the_named_models_convention(tmp_path):
    from keras_slowfast.models import VideoPreprocessor
    from tests.models.legacy_files import write_0_1_file
    from tests.tiny_models import tiny_task

    bgr = {"mean": [0.4, 0.45, 0.5], "std": [0.2, 0.225, 0.25], "channel_order": "bgr"}
    task = tiny_task(8, preprocessor=VideoPreprocessor(**bgr))
    task.save(tmp_path / "m.keras")
    write_0_1_file(task, tmp_path / "old.keras", "SlowFastNet")
    assert trainer.model_input_convention({"path": str(tmp_path / "m.keras")}) == bgr
    assert (
        trainer.model_input_convention({"finetune_from": str(tmp_path / "old.keras")})
        == bgr
    )
    assert trainer.model_input_convention({"input_convention": bgr}) == bgr
    assert trainer.model_input_convention({"preset": "slowfast_8x8_r50"}) is None
    recipe = TrainingRecipe(batch_size=4)
    data = {"type": "synthetic", "num_clips": 8, "num_frames": 8, "image_size": 32}
    plain, _, _, _ = trainer.build_datasets(data, recipe)
    reversed_, _, _, _ = trainer.build_datasets(data, recipe, input_convention=bgr)
    # The same uint8 clips, normalized per the convention: undo both.
    to_uint8 = VideoPreprocessor(**bgr).denormalize
    np.testing.assert_allclose(
        np.asarray(to_uint8(reversed_[0])),
        np.asarray(VideoPreprocessor().denormalize(plain[0])),
    )
    assert not np.allclose(plain[0], reversed_[0])
