"""TFLite export: builtins-only parity with Keras, quantized variants, detector."""

import keras
import numpy as np
import pytest

from keras_slowfast import SlowFastBackbone, SlowFastDetector, SlowFastR50
from keras_slowfast.export import (
    ExportedModel,
    export_tflite,
    reference_outputs,
)
from keras_slowfast.export.runtime import read_tflite_metadata
from keras_slowfast.inference.classify import predict_video
from keras_slowfast.models.preprocessor import VideoPreprocessor
from tests.inference.videos import write_video
from tests.tiny_models import TINY_DETECTION_BACKBONE, tiny_classifier

LABELS = ["abseiling", "bowling", "cooking", "dancing", "eating"]
EXPORT_KWARGS = dict(short_side=40, crop_size=32, top_k=3)


def _opcodes(path):
    """Builtin op names and custom codes of a .tflite file."""
    from tensorflow.lite.python import schema_py_generated as schema

    with open(path, "rb") as file:
        model = schema.Model.GetRootAs(file.read(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    return {names[c.BuiltinCode()] for c in codes}, {
        c.CustomCode() for c in codes if c.CustomCode()
    }


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = tiny_classifier()
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    export_tflite(model, path, labels=LABELS, **EXPORT_KWARGS)
    return model, str(path)


def test_float32_raw_frames_match_keras_with_builtins_only(classifier):
    model, path = classifier
    builtins, custom = _opcodes(path)
    assert not custom  # no Flex ops: runs in plain LiteRT
    assert {"CONV_2D", "RESIZE_BILINEAR", "TOPK_V2"} <= builtins
    exported = ExportedModel(path)
    assert exported.runtime == "tflite" and exported.labels == LABELS
    assert exported.metadata["precision"] == "float32"
    rng = np.random.default_rng(1)
    for shape in ((2, 8, 48, 60, 3), (1, 8, 40, 40, 3)):
        raw = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = reference_outputs(model, raw, **EXPORT_KWARGS)
        got = exported(raw)
        np.testing.assert_allclose(
            got["probabilities"], expected["probabilities"], atol=1e-4
        )
        np.testing.assert_array_equal(got["top_k_ids"], expected["top_k_ids"])


def test_int8_and_float16_agree_with_keras(classifier, tmp_path, record_property):
    """Reports top-1 agreement and the largest probability difference."""
    model, float_path = classifier
    raw = np.random.default_rng(2).integers(0, 256, (8, 8, 40, 50, 3), np.uint8)
    clips = np.asarray(VideoPreprocessor(short_side=40, crop_size=32)(raw))
    expected = np.asarray(keras.ops.softmax(model(clips, training=False)))
    sizes = {"float32": None}
    for precision in ("int8", "float16"):
        path = export_tflite(
            model,
            tmp_path / f"{precision}.tflite",
            signature="normalized",
            precision=precision,
            **EXPORT_KWARGS,
        )
        got = ExportedModel(path)(clips)["probabilities"]
        agreement = float(np.mean(got.argmax(-1) == expected.argmax(-1)))
        difference = float(np.abs(got - expected).max())
        record_property(f"{precision}_top1_agreement", agreement)
        record_property(f"{precision}_max_probability_difference", difference)
        print(
            f"{precision}: top-1 agreement {agreement:.3f}, max diff {difference:.2e}"
        )
        # A sanity bound only: a broken conversion gives noise.
        assert agreement >= 0.5 and difference < 0.25
        assert ExportedModel(path).metadata["precision"] == precision
        sizes[precision] = len(open(path, "rb").read())
    # Weights are stored smaller than the float32 file's.
    float_size = len(open(float_path, "rb").read())
    assert sizes["int8"] < float_size and sizes["float16"] < 0.6 * float_size


def test_predict_video_with_tflite_raw_frames(classifier, tmp_path):
    model, path = classifier
    video = write_video(tmp_path / "clip.avi", 24, height=36, width=50)
    kwargs = dict(target_fps=10, verbose=0)
    expected = predict_video(model, video, short_side=40, crop_size=32, **kwargs)
    got = predict_video(ExportedModel(path), video, **kwargs)
    np.testing.assert_allclose(
        got["probabilities"], expected["probabilities"], atol=1e-4
    )
    assert got["top_k"][0]["name"] == LABELS[expected["top_k"][0]["id"]]
    with pytest.raises(ValueError, match="takes raw frames and crops their center"):
        predict_video(ExportedModel(path), video, num_crops=3, **kwargs)


def test_detector_needs_flex_and_says_so(tmp_path):
    model = SlowFastDetector(
        SlowFastBackbone(**TINY_DETECTION_BACKBONE, image_size=(64, 64)), 5
    )
    kwargs = dict(signature="normalized", short_side=None, crop_size=None)
    with pytest.raises(ValueError, match=r"no builtin kernels for \(.*StridedSlice"):
        export_tflite(model, tmp_path / "detector.tflite", **kwargs)
    path = export_tflite(model, tmp_path / "flex.tflite", allow_flex=True, **kwargs)
    with open(path, "rb") as file:
        metadata, uses_flex = read_tflite_metadata(file.read())
    assert uses_flex and metadata["uses_flex"] and metadata["task"] == "detector"
    assert any(code.startswith(b"Flex") for code in _opcodes(path)[1])
    with pytest.raises(ValueError, match="contains Flex"):
        ExportedModel(path)


def test_bad_arguments(classifier, tmp_path):
    model, path = classifier
    with pytest.raises(ValueError, match="must end with .tflite"):
        export_tflite(model, tmp_path / "model.onnx")
    with pytest.raises(ValueError, match="already exists"):
        export_tflite(model, path)
    with pytest.raises(ValueError, match="precision='bfloat16' must be one of"):
        export_tflite(model, tmp_path / "a.tflite", precision="bfloat16")


@pytest.mark.large
def test_r50_matches_keras(tmp_path):
    model = SlowFastR50()
    path = export_tflite(
        model,
        tmp_path / "r50.tflite",
        signature="normalized",
        output_activation="none",
    )
    assert not _opcodes(path)[1]
    clips = np.random.default_rng(0).normal(size=(1, 32, 224, 224, 3))
    clips = clips.astype("float32")
    expected = np.asarray(model(clips, training=False))
    got = ExportedModel(path)(clips)["probabilities"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
