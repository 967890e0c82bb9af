"""ONNX export: parity with Keras in ONNX Runtime, metadata, CLI, predict."""

import json
import sys

import keras
import numpy as np
import pytest

from keras_slowfast import SlowFastBackbone, SlowFastDetector, SlowFastR50, cli
from keras_slowfast.export import (
    ExportedModel,
    export_onnx,
    reference_outputs,
)
from keras_slowfast.inference.classify import predict_video
from keras_slowfast.models.preprocessor import VideoPreprocessor
from tests.inference.videos import write_video
from tests.tiny_models import TINY_DETECTION_BACKBONE, tiny_classifier

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

LABELS = ["abseiling", "bowling", "cooking", "dancing", "eating"]
EXPORT_KWARGS = dict(short_side=40, crop_size=32, top_k=3)
# Keras' own .keras writer warns about numpy's copy keyword; not ours to fix.
KERAS_SAVE_WARNING = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = tiny_classifier()
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(model, path, labels=LABELS, **EXPORT_KWARGS)
    return model, str(path)


def test_classifier_raw_frames_match_keras_with_dynamic_batch(classifier):
    model, path = classifier
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (video,) = session.get_inputs()
    assert (video.name, video.type) == ("video", "tensor(uint8)")
    assert video.shape == ["batch", 8, "height", "width", 3]
    outputs = {o.name: o.shape for o in session.get_outputs()}
    assert outputs == {
        "probabilities": ["batch", 5],
        "top_k_ids": ["batch", 3],
        "top_k_scores": ["batch", 3],
    }
    exported = ExportedModel(path)
    assert exported.runtime == "onnxruntime" and exported.takes_raw_frames
    rng = np.random.default_rng(1)
    for shape in ((2, 8, 48, 60, 3), (1, 8, 40, 40, 3), (3, 8, 64, 41, 3)):
        raw = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = reference_outputs(model, raw, **EXPORT_KWARGS)
        got = exported(raw)
        np.testing.assert_allclose(
            got["probabilities"], expected["probabilities"], atol=1e-4
        )
        np.testing.assert_array_equal(got["top_k_ids"], expected["top_k_ids"])
        # And the network itself, on the same preprocessing.
        clips = VideoPreprocessor(short_side=40, crop_size=32)(raw)
        keras_probabilities = keras.ops.softmax(model(clips, training=False))
        np.testing.assert_allclose(
            got["probabilities"], np.asarray(keras_probabilities), atol=1e-4
        )


def test_metadata_records_labels_opset_and_convention(classifier):
    _, path = classifier
    proto = onnx.load(path)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [
        17
    ]
    props = {p.key: p.value for p in proto.metadata_props}
    metadata = json.loads(props["keras_slowfast"])
    assert metadata["labels"] == LABELS
    assert metadata["opset"] == 17
    assert metadata["signature"] == "serving_default"
    assert metadata["input_convention"]["channel_order"] == "rgb"
    assert (metadata["short_side"], metadata["crop_size"]) == (40, 32)
    # Names live in the metadata, not as string outputs.
    assert "top_k_names" not in [o.name for o in proto.graph.output]


def test_detector_with_boxes_matches_keras(tmp_path):
    model = SlowFastDetector(
        SlowFastBackbone(**TINY_DETECTION_BACKBONE, image_size=(64, 64)), 5
    )
    path = export_onnx(
        model, tmp_path / "detector.onnx", short_side=64, crop_size=None, opset=18
    )
    exported = ExportedModel(path)
    assert exported.task == "detector"
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.shape for i in session.get_inputs()] == [
        ["batch", 8, "height", "width", 3],
        ["batch", "num_boxes", 4],
    ]
    rng = np.random.default_rng(0)
    for batch, boxes in (
        (2, [[0.1, 0.1, 0.5, 0.9], [-1, -1, -1, -1], [0.3, 0.2, 1.0, 0.8]]),
        (1, [[0.0, 0.0, 1.0, 1.0]]),
    ):
        raw = rng.integers(0, 256, (batch, 8, 48, 48, 3), dtype=np.uint8)
        boxes = np.array([boxes] * batch, np.float32)
        expected = reference_outputs(
            model, raw, boxes=boxes, short_side=64, crop_size=None
        )
        got = exported(raw, boxes)
        np.testing.assert_allclose(
            got["probabilities"], expected["probabilities"], atol=1e-4
        )
        assert got["probabilities"].shape == (batch, len(boxes[0]), 5)
    with pytest.raises(ValueError, match="is a detector: pass boxes"):
        exported(raw)


@pytest.mark.filterwarnings(KERAS_SAVE_WARNING)
def test_export_command_and_predict_runtime(tmp_path, capsys):
    model = tiny_classifier()
    weights = tmp_path / "tiny.keras"
    model.save(weights)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n")
    output = tmp_path / "tiny.onnx"
    args = ["export", "--weights", str(weights), "--format", "onnx"]
    args += ["--output", str(output), "--labels", str(labels)]
    args += ["--signature", "normalized", "--crop-size", "32", "--short-side", "32"]
    assert cli.main(args) == 0
    assert f"exported {output} (ONNX opset 17" in capsys.readouterr().out
    assert cli.main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert cli.main(args + ["--overwrite", "--precision", "int8"]) == 2
    assert "--precision int8 is not available for --format onnx" in (
        capsys.readouterr().err
    )

    # predict_video with the ONNX file: same windows, same preprocessing
    # (here in Python, from the convention in the metadata), 3 crops.
    video = write_video(tmp_path / "clip.avi", 24)
    kwargs = dict(short_side=32, crop_size=32, num_crops=3, target_fps=10, verbose=0)
    expected = predict_video(model, video, **kwargs)
    got = predict_video(ExportedModel(output), video, **kwargs)
    np.testing.assert_allclose(
        got["probabilities"], expected["probabilities"], atol=1e-4
    )
    assert [e["name"] for e in got["top_k"]] == [
        LABELS[e["id"]] for e in expected["top_k"]
    ]
    assert len(got["windows"]) == len(expected["windows"]) == 2

    predict = ["predict", video, "--weights", str(output), "--target-fps", "10"]
    assert cli.main(predict + ["--runtime", "onnxruntime", "--quiet"]) == 0
    assert cli.main(predict + ["--runtime", "tflite"]) == 2
    assert "is run by runtime 'onnxruntime', not 'tflite'" in capsys.readouterr().err


def test_bad_arguments_and_missing_dependency(classifier, tmp_path, monkeypatch):
    model, path = classifier
    with pytest.raises(ValueError, match="must end with .onnx"):
        export_onnx(model, tmp_path / "model.pb")
    with pytest.raises(ValueError, match="already exists"):
        export_onnx(model, path)
    with pytest.raises(ValueError, match="opset=9 must be between 13 and 18"):
        export_onnx(model, tmp_path / "a.onnx", opset=9, **EXPORT_KWARGS)
    with pytest.raises(ValueError, match="signature='raw' must be one of"):
        export_onnx(model, tmp_path / "a.onnx", signature="raw", **EXPORT_KWARGS)
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(ImportError, match=r"pip install keras_slowfast\[onnx\]"):
        export_onnx(model, tmp_path / "a.onnx", **EXPORT_KWARGS)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install keras_slowfast\[onnx\]"):
        ExportedModel(path)
    with pytest.raises(ValueError, match="expected an .onnx file, a .tflite file"):
        ExportedModel(__file__)


@pytest.mark.large
def test_r50_matches_keras(tmp_path):
    # Logits, not probabilities: 400 near-uniform probabilities of a
    # randomly initialized head would hide differences.
    model = SlowFastR50()
    path = export_onnx(
        model, tmp_path / "r50.onnx", signature="normalized", output_activation="none"
    )
    clips = np.random.default_rng(0).normal(size=(1, 32, 224, 224, 3))
    clips = clips.astype("float32")
    expected = np.asarray(model(clips, training=False))
    got = ExportedModel(path)(clips)["probabilities"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
