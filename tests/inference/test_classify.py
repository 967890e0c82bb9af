"""predict_video and predict_stream on generated videos."""

import keras
import numpy as np
import pytest

from keras_slowfast.data.decode import VideoDecodeError, read_frames_at
from keras_slowfast.inference.classify import predict_stream, predict_video
from tests.inference.videos import (
    FPS,
    LABELS,
    MEAN,
    STD,
    classifier_files,
    clip_probabilities,
)

# Keras' own .keras / .h5 writers warn about numpy's copy keyword; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return classifier_files(tmp_path_factory.mktemp("classify"))


def test_predict_video_sliding_windows_match_the_model(files):
    model = files["model"]
    result = predict_video(
        model,
        files["video"],
        short_side=32,
        crop_size=32,
        top_k=3,
        labels=LABELS,
        batch_size=1,
        target_fps=FPS,
        verbose=0,
    )
    assert result["duration"] == pytest.approx(2.4)
    assert [w["start_time"] for w in result["windows"]] == [0.0, 0.8]
    assert [w["end_time"] for w in result["windows"]] == [1.6, 2.4]
    per_window = [clip_probabilities(model, files["video"], s) for s in (0, 8)]
    for window, expected in zip(result["windows"], per_window, strict=True):
        top = [entry["id"] for entry in window["top_k"]]
        assert top == list(np.argsort(-expected)[:3])
        assert window["top_k"][0]["name"] == LABELS[top[0]]
        assert window["top_k"][0]["score"] == pytest.approx(expected[top[0]], abs=1e-5)
    np.testing.assert_allclose(
        result["probabilities"], np.mean(per_window, axis=0), atol=1e-5
    )


def test_three_crops_average_the_views(files):
    model = files["model"]
    result = predict_video(
        model,
        files["video"],
        num_clips=1,
        num_crops=3,
        short_side=32,
        crop_size=32,
        target_fps=FPS,
        verbose=0,
    )
    frames = read_frames_at(files["video"], (4 + 2 * np.arange(8)) / FPS)
    views = [frames[:, :, left : left + 32] for left in (0, 4, 8)]
    clips = (np.stack(views).astype(np.float32) / 255.0 - MEAN) / STD
    expected = np.asarray(keras.ops.softmax(model(clips), axis=-1)).mean(axis=0)
    np.testing.assert_allclose(result["probabilities"], expected, atol=1e-5)


def test_predict_video_raises_for_bad_inputs(files):
    model = files["model"]
    with pytest.raises(VideoDecodeError, match="file not found"):
        predict_video(model, files["root"] / "nope.avi", verbose=0)
    with pytest.raises(VideoDecodeError, match="is an image file"):
        predict_video(model, files["root"] / "frame.png", verbose=0)
    with pytest.raises(ValueError, match="num_crops=2 must be 1 or 3"):
        predict_video(model, files["video"], num_crops=2, verbose=0)
    with pytest.raises(ValueError, match="label map has 1 names"):
        predict_video(model, files["video"], labels=["x"], crop_size=32, verbose=0)
    with pytest.raises(ValueError, match="crop_size=64 must be <= short_side=32"):
        predict_video(model, files["video"], short_side=32, crop_size=64, verbose=0)


def test_top_level_names_resolve_lazily():
    import keras_slowfast
    from keras_slowfast.export import saved_model
    from keras_slowfast.inference import classify, detect

    assert keras_slowfast.predict_video is classify.predict_video
    assert keras_slowfast.detect_video is detect.detect_video
    assert keras_slowfast.export_saved_model is saved_model.export_saved_model
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        keras_slowfast.nothing  # noqa: B018


def test_stream_rolling_buffer_matches_sliding_windows(files):
    model = files["model"]
    kwargs = dict(short_side=32, crop_size=32, labels=LABELS, top_k=2, target_fps=FPS)
    windows = list(predict_stream(model, files["video"], every=8, **kwargs))
    result = predict_video(model, files["video"], verbose=0, **kwargs)
    times = [(w["start_time"], w["end_time"]) for w in windows]
    assert times == [(0.0, 1.6), (0.8, 2.4)]
    for window, expected_start in zip(windows, (0, 8), strict=True):
        expected = clip_probabilities(model, files["video"], expected_start)
        np.testing.assert_allclose(window["probabilities"], expected, atol=1e-5)
    for streamed, windowed in zip(windows, result["windows"], strict=True):
        assert [c["id"] for c in streamed["top_k"]] == [
            c["id"] for c in windowed["top_k"]
        ]
    assert len(list(predict_stream(model, files["video"], every=1, max_windows=3,
                                   **kwargs))) == 3  # fmt: skip
    with pytest.raises(ValueError, match="stream 7: cannot open"):
        next(predict_stream(model, "7", **kwargs))
