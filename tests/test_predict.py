"""predict_video and ``python -m keras_slowfast predict`` on generated videos."""

import csv
import json
import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest

from keras_slowfast import SlowFastNet
from keras_slowfast.data.decode import VideoDecodeError, read_frames_at
from keras_slowfast.predict import (
    csv_rows,
    format_table,
    load_model,
    predict_stream,
    predict_video,
    window_instants,
)
from tests.tiny_models import tiny_classifier

# Keras' own .keras / .h5 writers warn about numpy's copy keyword; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
LABELS = ["abseiling", "bowling", "cooking", "dancing", "eating"]
MEAN, STD = 0.45, 0.225
FPS = 10  # the test videos' rate; predictions resample to it (target_fps=FPS)


def _write_video(path, num_frames, height=32, width=40, seed=0):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (width, height)
    )
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        writer.write(np.roll(base, 2 * i, axis=1))  # content moving right
    writer.release()
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("predict")
    model = tiny_classifier()
    model.save(root / "tiny.keras")
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return {
        "root": root,
        "model": model,
        "weights": str(root / "tiny.keras"),
        "labels": str(root / "labels.txt"),
        "video": _write_video(root / "clip.avi", 24),
    }


def _clip_probabilities(model, path, start):
    """The model on the window starting at frame ``start``, preprocessed
    independently with numpy."""
    frames = read_frames_at(path, (start + 2 * np.arange(8)) / FPS)  # stride 2
    # 32x40 frames: short side already 32, so only the center crop (left 4).
    clip = (frames[:, :, 4:36].astype(np.float32) / 255.0 - MEAN) / STD
    logits = model(clip[None], training=False)
    return np.asarray(keras.ops.softmax(logits, axis=-1))[0]


def _cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "keras_slowfast", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_window_instants_cover_the_video():
    # 2.4 s, 8 frames every 0.2 s (sampling rate 2 at 10 fps) span 1.6 s.
    starts = window_instants(2.4, 8, 2, FPS)[:, 0]
    np.testing.assert_allclose(starts, [0, 0.8])
    np.testing.assert_allclose(window_instants(2.4, 8, 2, FPS)[1, -1], 2.2)
    np.testing.assert_allclose(
        window_instants(10.0, 8, 2, FPS, window_stride=4)[:, 0], [0, 4, 8, 8.4]
    )
    np.testing.assert_allclose(
        window_instants(2.4, 8, 2, FPS, num_clips=1)[:, 0], [0.4]
    )
    np.testing.assert_allclose(
        window_instants(11.6, 8, 2, FPS, num_clips=3)[:, 0], [0, 5, 10]
    )
    # Shorter than a window: one window from 0 (its end repeats the last frame).
    np.testing.assert_allclose(window_instants(1.0, 8, 2, FPS)[:, 0], [0])


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
    per_window = [_clip_probabilities(model, files["video"], s) for s in (0, 8)]
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


def test_predict_command_gives_the_models_top_class(files, tmp_path):
    json_path, csv_path = tmp_path / "out.json", tmp_path / "out.csv"
    result = _cli(
        "predict",
        files["video"],
        "--weights",
        files["weights"],
        "--labels",
        files["labels"],
        "--num-clips",
        "1",
        "--short-side",
        "32",
        "--crop-size",
        "32",
        "--top-k",
        "3",
        "--target-fps",
        FPS,
        "--json",
        json_path,
        "--csv",
        csv_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    expected = _clip_probabilities(files["model"], files["video"], 4)
    top_class = int(np.argmax(expected))
    with open(json_path) as file:
        (video,) = json.load(file)
    assert video["windows"][0]["start_time"] == pytest.approx(0.4)  # frame 4
    assert video["top_k"][0]["id"] == top_class
    assert video["top_k"][0]["name"] == LABELS[top_class]
    assert "whole video" in result.stdout and LABELS[top_class] in result.stdout
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6  # (1 window + whole video) x top 3
    assert rows[-3]["window"] == "video" and rows[-3]["class_name"] == LABELS[top_class]


def test_bad_videos_get_one_line_errors(files):
    root = files["root"]
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4000))
    image = root / "frame.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    disguised = root / "frame_named.mp4"  # an image with a video extension
    disguised.write_bytes(image.read_bytes())
    short = _write_video(root / "short.avi", 5)
    bad = [root / "missing.mp4", corrupt, image, disguised, short]
    result = _cli(
        "predict", *bad, "--weights", files["weights"], "--short-side", "32",
        "--crop-size", "32", "--quiet",
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    # A video shorter than a window plays, so it is classified (last frame
    # repeated), not rejected.
    assert len(errors) == 4, result.stderr
    assert "short.avi" not in result.stderr
    assert "missing.mp4: file not found" in errors[0]
    assert "corrupt.mp4: not a readable video" in errors[1]
    assert "frame.png: is an image file" in errors[2]
    assert "frame_named.mp4: is an image file" in errors[3]


def test_bad_weights_get_one_line_errors(files, capsys):
    from keras_slowfast import cli

    for weights, message in [
        (files["root"] / "none.keras", "none.keras: file not found"),
        (files["video"], "expected a .keras model file or a .weights.h5 file"),
    ]:
        assert cli.main(["predict", files["video"], "--weights", str(weights)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err
        assert len(err.strip().splitlines()) == 1


def test_predict_video_raises_for_bad_inputs(files):
    model = files["model"]
    with pytest.raises(VideoDecodeError, match="file not found"):
        predict_video(model, files["root"] / "nope.avi", verbose=0)
    with pytest.raises(ValueError, match="num_crops=2 must be 1 or 3"):
        predict_video(model, files["video"], num_crops=2, verbose=0)
    with pytest.raises(ValueError, match="label map has 1 names"):
        predict_video(model, files["video"], labels=["x"], crop_size=32, verbose=0)


def test_load_model_from_preset_and_weights_file(tmp_path):
    model = SlowFastNet(
        stage_depths=[1, 1, 1, 1], pathways="slow", alpha=1, num_frames=4, num_classes=3
    )
    # A .weights.h5 needs --preset; a preset-built model loads the same weights.
    from keras_slowfast.models import from_preset

    reference = from_preset("slow_4x16_r50", num_classes=3)
    path = str(tmp_path / "slow.weights.h5")
    reference.save_weights(path)
    loaded = load_model(path, "slow_4x16_r50", num_classes=3)
    clip = np.random.default_rng(0).normal(size=(1, 4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded(clip), reference(clip), atol=1e-5)
    with pytest.raises(ValueError, match="give the architecture with --preset"):
        load_model(path)
    with pytest.raises(ValueError, match="do not fit preset"):
        load_model(path, "slow_4x16_r50", num_classes=7)
    keras_path = str(tmp_path / "tiny.keras")
    model.save(keras_path)
    with pytest.raises(ValueError, match="drop --preset"):
        load_model(keras_path, "slow_4x16_r50")


def test_top_level_names_resolve_lazily():
    import keras_slowfast
    from keras_slowfast.export import saved_model
    from keras_slowfast.predict import predict_video as defined

    assert keras_slowfast.predict_video is defined
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
        expected = _clip_probabilities(model, files["video"], expected_start)
        np.testing.assert_allclose(window["probabilities"], expected, atol=1e-5)
    for streamed, windowed in zip(windows, result["windows"], strict=True):
        assert [c["id"] for c in streamed["top_k"]] == [
            c["id"] for c in windowed["top_k"]
        ]
    assert len(list(predict_stream(model, files["video"], every=1, max_windows=3,
                                   **kwargs))) == 3  # fmt: skip
    with pytest.raises(ValueError, match="stream 7: cannot open"):
        next(predict_stream(model, "7", **kwargs))


def test_predict_command_camera_mode_reads_a_stream(files, capsys):
    from keras_slowfast import cli

    args = ["predict", "--camera", files["video"], "--weights", files["weights"]]
    args += ["--short-side", "32", "--crop-size", "32", "--every", "3"]
    args += ["--target-fps", "10"]
    assert cli.main(args + ["--max-windows", "2", "--labels", files["labels"]]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["0.00-1.60 s", "0.30-1.90 s"]
    assert cli.main(args + [files["video"]]) == 2
    assert "not both" in capsys.readouterr().err


def test_table_and_csv_without_a_frame_rate():
    top = [{"id": 1, "name": "b", "score": 0.75}]
    window = {"start_time": 0.0, "end_time": 1.5}
    result = {
        "path": "x.avi",
        "duration": 1.5,
        "fps": None,
        "windows": [{**window, "top_k": top}],
        "top_k": top,
        "probabilities": np.array([0.25, 0.75]),
    }
    table = format_table(result)
    assert "unknown fps" in table and "b 0.750" in table
    rows = csv_rows(result)
    assert [row[1] for row in rows] == ["0", "video"]
    assert rows[1][3] == 1.5 and rows[1][-1] == "0.750000"
