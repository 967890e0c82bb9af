"""load_model: .keras, .weights.h5 with their architecture, presets, 0.1 files."""

import json
import zipfile

import keras
import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast.models import SlowFastVideoClassifier, VideoPreprocessor
from tests.models.legacy_files import write_0_1_file
from tests.test_case import assert_close
from tests.tiny_models import TINY_BACKBONE, tiny_detector, tiny_task

BGR = {"mean": [0.4, 0.45, 0.5], "std": [0.2, 0.225, 0.25], "channel_order": "bgr"}


def _clip(size=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(1, 8, size, size, 3)).astype("float32")


def test_keras_file_and_weights_with_sidecar_config(tmp_path):
    task = tiny_task(4, preprocessor=VideoPreprocessor(**BGR))
    task.save(tmp_path / "m.keras")
    loaded = ks.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, SlowFastVideoClassifier)
    assert loaded.input_convention == BGR
    task.save_weights(tmp_path / "m.weights.h5")
    (tmp_path / "m.config.json").write_text(json.dumps(task.get_config()))
    again = ks.load_model(str(tmp_path / "m.weights.h5"))
    assert_close(again(_clip(), training=False), task(_clip(), training=False))
    assert again.input_convention == BGR


def test_weights_with_a_preset_and_presets_by_name(tmp_path):
    model = ks.load_model("slowfast_8x8_r50", num_classes=3, num_frames=8)
    assert model.num_frames == 8 and model.num_classes == 3
    model.save_weights(tmp_path / "r50.weights.h5")
    again = ks.load_model(
        tmp_path / "r50.weights.h5",
        preset="slowfast_8x8_r50",
        num_classes=3,
        num_frames=8,
    )
    assert_close(again(_clip(32), training=False), model(_clip(32), training=False))
    detector = ks.load_model("slowfast_8x8_r50", detector=True, num_frames=8)
    assert detector.backbone.spatial_strides == [1, 2, 2, 1]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda p: ks.load_model(p / "missing.keras"), FileNotFoundError, "no such"),
        (lambda p: ks.load_model(p / "w.weights.h5"), ValueError, "preset=NAME"),
        (lambda p: ks.load_model(p / "m.txt"), ValueError, "expected a .keras"),
        (
            lambda p: ks.load_model(p / "m.keras", num_classes=3),
            ValueError,
            "takes no preset",
        ),
        (
            lambda p: ks.load_model(p / "w.weights.h5", preset="slowfast_8x8_r50"),
            ValueError,
            "do not fit",
        ),
    ],
)
def test_errors_name_the_file_and_the_fix(tmp_path, call, error, match):
    task = tiny_task(3)
    task.save(tmp_path / "m.keras")
    task.save_weights(tmp_path / "w.weights.h5")
    (tmp_path / "m.txt").write_text("not a model")
    with pytest.raises(error, match=match):
        call(tmp_path)


def test_0_1_classifier_files_convert_with_the_same_outputs(tmp_path, caplog):
    task = tiny_task(5, activation="softmax", preprocessor=VideoPreprocessor(**BGR))
    path = tmp_path / "old.keras"
    write_0_1_file(task, path, "SlowFastNet")
    with pytest.raises(ValueError, match="keras_slowfast.load_model"):
        keras.saving.load_model(path)
    loaded = ks.load_model(path)
    assert "keras_slowfast 0.1" in caplog.text and "model.save" in caplog.text
    assert isinstance(loaded, SlowFastVideoClassifier)
    assert loaded.input_convention == BGR and loaded.activation == "softmax"
    assert loaded.backbone.get_config() == {
        **task.backbone.get_config(),
        "name": loaded.backbone.name,
    }
    assert_close(loaded(_clip(), training=False), task(_clip(), training=False))
    # Saved again, the file is a current one.
    loaded.save(tmp_path / "new.keras")
    assert_close(
        keras.saving.load_model(tmp_path / "new.keras")(_clip(), training=False),
        task(_clip(), training=False),
    )


def test_0_1_detector_files_convert_with_the_same_outputs(tmp_path):
    detector = tiny_detector(3, dropout_rate=0.0)
    path = tmp_path / "old_detector.keras"
    write_0_1_file(detector, path, "SlowFastDetector")
    with pytest.raises(ValueError, match="keras_slowfast 0.1"):
        keras.saving.load_model(path)
    loaded = ks.load_model(path)
    boxes = np.array([[[4, 6, 40, 60]]], "float32")
    assert_close(
        loaded([_clip(), boxes], training=False),
        detector([_clip(), boxes], training=False),
    )


def test_0_1_weights_file_with_its_0_1_sidecar_config(tmp_path):
    task = tiny_task(5)
    write_0_1_file(task, tmp_path / "old.keras", "SlowFastNet")
    with zipfile.ZipFile(tmp_path / "old.keras") as archive:
        (tmp_path / "w.weights.h5").write_bytes(archive.read("model.weights.h5"))
        config = json.loads(archive.read("config.json"))["config"]
    (tmp_path / "w.config.json").write_text(json.dumps(config))
    loaded = ks.load_model(tmp_path / "w.weights.h5")
    assert_close(loaded(_clip(), training=False), task(_clip(), training=False))
    config = loaded.backbone.get_config()
    assert {k: config[k] for k in TINY_BACKBONE} == TINY_BACKBONE
