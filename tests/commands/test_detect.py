"""``detect`` end to end on a generated video of moving stick figures."""

import cv2
import numpy as np
import pytest

from keras_slowfast.cli import main
from keras_slowfast.data.ava import read_ava_rows
from keras_slowfast.inference.detect import has_hog
from tests.inference.people import (
    FPS,
    FRAMES,
    HEIGHT,
    WIDTH,
    person_box,
    positions,
    write_people_video,
)
from tests.tiny_models import tiny_detector


@pytest.fixture
def video(tmp_path):
    return write_people_video(tmp_path / "people.mp4")


@pytest.fixture
def tiny_model(tmp_path):
    model = tiny_detector(num_classes=3)
    path = tmp_path / "tiny_detector.keras"
    model.save(path)
    labels = tmp_path / "labels.pbtxt"
    labels.write_text(
        'item { name: "walk" id: 14 }\nitem { name: "stand" id: 12 }\n'
        'item { name: "wave" id: 80 }\n'
    )
    return str(path), str(labels)


def _frame_count(path):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    count = 0
    first = None
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        first = frame if first is None else first
        count += 1
    capture.release()
    return count, first


def test_detect_with_boxes_csv(video, tiny_model, tmp_path, capsys):
    weights, labels = tiny_model
    boxes = tmp_path / "boxes.csv"
    lines = ["second,x1,y1,x2,y2"]
    for second in (0, 1):
        for x, y in positions(second * FPS + FPS // 2):
            lines.append(",".join(str(v) for v in (second, *person_box(x, y))))
    boxes.write_text("\n".join(lines) + "\n")
    out, detections = tmp_path / "annotated.mp4", tmp_path / "detections.csv"
    code = main(
        [
            "detect",
            str(video),
            "--out",
            str(out),
            "--boxes",
            str(boxes),
            "--weights",
            weights,
            "--label-map",
            labels,
            "--csv",
            str(detections),
            "--image-size",
            "64",
            "--sampling-rate",
            "1",
        ]
    )
    assert code == 0
    assert "4 person box(es) (CSV)" in capsys.readouterr().out
    count, first = _frame_count(out)
    assert count == FRAMES
    assert first.shape == (HEIGHT, WIDTH, 3)
    # The green box outline of the first person is drawn in the first frame.
    x1, y1, x2, y2 = (int(v) for v in person_box(*positions(FPS // 2)[0]))
    edge = first[y1 + 10 : y2 - 10, x1].astype(int)
    assert np.mean(edge[:, 1] - edge[:, 2]) > 100
    rows = read_ava_rows(detections)
    assert len(rows) == 2 * 2 * 3  # seconds x boxes x classes
    assert {r.action_id for r in rows} == {12, 14, 80}
    assert all(0.0 < r.score < 1.0 for r in rows)


def test_detect_with_motion_detector(video, tiny_model, tmp_path, capsys):
    weights, _ = tiny_model
    out = tmp_path / "motion.mp4"
    argv = ["detect", str(video), "--out", str(out), "--weights", weights]
    argv += ["--image-size", "64", "--detector", "motion"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "(motion)" in printed
    found = int(printed.split("second(s), ")[1].split(" person")[0])
    assert found >= 2  # the moving figures are found in both seconds
    count, _ = _frame_count(out)
    assert count == FRAMES


def test_hog_detector_or_clear_error(video, tiny_model, tmp_path, capsys):
    """OpenCV 4.x has HOG; OpenCV 5 does not, and the command says so."""
    weights, _ = tiny_model
    out = tmp_path / "hog.mp4"
    argv = ["detect", str(video), "--out", str(out), "--weights", weights]
    argv += ["--image-size", "64", "--detector", "hog"]
    code = main(argv)
    if has_hog():
        assert code == 0 and "(hog)" in capsys.readouterr().out
        assert _frame_count(out)[0] == FRAMES
    else:
        assert code == 2
        assert "no HOG people detector" in capsys.readouterr().err


def test_detect_errors(video, tiny_model, tmp_path, capsys):
    weights, labels = tiny_model
    bad = tmp_path / "bad.csv"
    bad.write_text("0,10,10,5,50\n")
    code = main(
        [
            "detect",
            str(video),
            "--out",
            str(tmp_path / "o.mp4"),
            "--boxes",
            str(bad),
            "--weights",
            weights,
        ]
    )
    assert code == 2 and "x2 > x1" in capsys.readouterr().err
    code = main(
        ["detect", str(tmp_path / "none.mp4"), "--out", str(tmp_path / "o.mp4")]
    )
    assert code == 2 and "none.mp4" in capsys.readouterr().err
    code = main(
        [
            "detect",
            str(video),
            "--out",
            str(tmp_path / "o.mp4"),
            "--weights",
            str(tmp_path / "w.bin"),
        ]
    )
    assert code == 2 and "expected a .keras model file" in capsys.readouterr().err


def test_output_and_label_map_are_checked_before_the_model_runs(
    video, tiny_model, tmp_path, capsys, monkeypatch
):
    import keras_slowfast.inference.detect as detect_module

    def never(*args, **kwargs):
        raise AssertionError("inference ran before the arguments were checked")

    monkeypatch.setattr(detect_module, "detect_video", never)
    weights, _ = tiny_model
    base = ["detect", str(video), "--weights", weights]
    missing = str(tmp_path / "missing.pbtxt")
    assert main(base + ["--out", str(tmp_path / "o.mp4"), "--label-map", missing]) == 2
    error = capsys.readouterr().err
    assert f"--label-map {missing}: file not found" in error
    assert len(error.strip().splitlines()) == 1
    assert main(base + ["--out", str(tmp_path / "o.gif")]) == 2
    assert "expected a .mp4 or .avi file" in capsys.readouterr().err
    nested = tmp_path / "new" / "folder" / "o.mp4"
    with pytest.raises(AssertionError, match="inference ran"):
        main(base + ["--out", str(nested)])
    assert nested.parent.is_dir()  # created before the work starts
