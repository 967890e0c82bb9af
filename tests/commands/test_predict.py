"""``python -m keras_slowfast predict``: files, a stream, table and CSV output."""

import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from keras_slowfast import cli
from keras_slowfast.commands.predict import csv_rows, format_table
from tests.inference.videos import (
    FPS,
    LABELS,
    classifier_files,
    clip_probabilities,
    write_video,
)

# Keras' own .keras / .h5 writers warn about numpy's copy keyword; not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return classifier_files(tmp_path_factory.mktemp("predict"))


def _cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "keras_slowfast", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


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
    expected = clip_probabilities(files["model"], files["video"], 4)
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
    short = write_video(root / "short.avi", 5)
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
    for weights, message in [
        (files["root"] / "none.keras", "none.keras"),
        (files["video"], "expected a .keras model file"),
    ]:
        assert cli.main(["predict", files["video"], "--weights", str(weights)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err
        assert len(err.strip().splitlines()) == 1


def test_predict_command_camera_mode_reads_a_stream(files, capsys):
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
