"""A model trained on class folders saves its class names and how it read clips.

Trained with ``train --config`` on a folder tree at a small crop and sampling
rate 4, the saved model predicts with the folder names and its own settings,
with no size, rate or label arguments; a class count that differs from the
folders' stops before training with one line.
"""

import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast import cli
from keras_slowfast.training import trainer
from tests.inference.videos import write_video

CLASSES = ["jumping", "running"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for split, count in (("train", 2), ("val", 1)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                seed = 10 * label + i + (100 if split == "val" else 0)
                write_video(folder / f"{i}.avi", 40, height=48, width=64, seed=seed)
    return root


def _config(tree, output_dir, num_classes=2):
    return {
        "model": {"stage_depths": [1, 1, 1, 1], "alpha": 4, "num_frames": 8,
                  "num_classes": num_classes},
        "data": {"type": "folder", "train": str(tree / "train"),
                 "validation": str(tree / "val"), "num_frames": 8,
                 "sampling_rate": 4, "train_short_side": [40, 44],
                 "eval_short_side": 40, "crop_size": 32, "num_clips": 1,
                 "num_crops": 1},
        "training": {"epochs": 1, "batch_size": 2},
        "output_dir": str(output_dir),
    }  # fmt: skip


def test_the_saved_model_predicts_with_its_folder_names_and_settings(
    tree, tmp_path, capsys
):
    trainer.train_from_config(_config(tree, tmp_path / "run"), verbose=0)
    model = ks.load_model(str(tmp_path / "run" / "model.keras"))
    assert model.class_names == CLASSES
    preprocessor = model.preprocessor
    assert (preprocessor.sampling_rate, preprocessor.short_side) == (4, 40)
    assert preprocessor.crop_size == 32
    video = str(tree / "val" / "running" / "0.avi")
    default = ks.predict_video(model, video, verbose=0)
    explicit = ks.predict_video(
        model,
        video,
        sampling_rate=4,
        short_side=40,
        crop_size=32,
        labels=CLASSES,
        verbose=0,
    )
    np.testing.assert_array_equal(default["probabilities"], explicit["probabilities"])
    assert default["top_k"][0]["name"] in CLASSES
    weights = str(tmp_path / "run" / "model.keras")
    assert cli.main(["predict", video, "--weights", weights, "--quiet", "--json",
                     str(tmp_path / "out.json")]) == 0  # fmt: skip
    assert default["top_k"][0]["name"] in (tmp_path / "out.json").read_text()


def test_a_class_count_that_differs_from_the_folders_stops_at_once(tree, tmp_path):
    with pytest.raises(ValueError) as info:
        trainer.train_from_config(_config(tree, tmp_path, num_classes=3), verbose=0)
    message = str(info.value)
    assert (
        "model.num_classes=3" in message and "2 classes (jumping, running)" in message
    )
    assert len(message.splitlines()) == 1
    assert not (tmp_path / "model.keras").exists()


def test_config_mistakes_are_one_line_naming_the_file_or_key(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: {preset: slowfast_8x8_r50\ndata: [\n")
    with pytest.raises(ValueError) as info:
        trainer.load_config(str(broken))
    assert str(info.value).startswith(f"{broken}: line 2")
    assert "not valid YAML" in str(info.value)
    with pytest.raises(ValueError, match=r"image_size=64 must be a list of 2"):
        trainer.build_model({"stage_depths": [1, 1, 1, 1], "image_size": 64})


def test_an_output_dir_of_another_config_is_refused(tmp_path):
    config = {
        "model": {"stage_depths": [1, 1, 1, 1], "num_frames": 8, "num_classes": 8},
        "data": {"type": "synthetic", "num_clips": 4, "num_frames": 8,
                 "image_size": 32},
        "training": {"epochs": 1, "batch_size": 4},
        "output_dir": str(tmp_path / "run"),
    }  # fmt: skip
    trainer.train_from_config(config, verbose=0)
    changed = {**config, "training": {"epochs": 2, "batch_size": 4}}
    with pytest.raises(ValueError) as info:
        trainer.train_from_config(changed, verbose=0)
    assert "differs in training.epochs" in str(info.value)
    assert str(tmp_path / "run") in str(info.value)
    _, history, _ = trainer.train_from_config(config, verbose=0)  # same: resumes
    assert len(history.history["loss"]) == 1
