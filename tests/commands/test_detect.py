"""``detect`` end to end on a generated video of moving stick figures."""

import cv2
import numpy as np
import pytest

from keras_slowfast.cli import main
from keras_slowfast.commands.detect import has_hog, hog_people, motion_people
from keras_slowfast.data.ava import read_ava_rows
from keras_slowfast.models import SlowFastDetector

WIDTH, HEIGHT, FPS, FRAMES = 160, 120, 10, 20


def _figure(frame, x, y, phase):
    """A stick person: head, body, swinging arms and legs (BGR dark grey)."""
    color = (40, 40, 40)
    cv2.circle(frame, (x, y), 6, color, -1)
    cv2.line(frame, (x, y + 6), (x, y + 40), color, 4)
    swing = int(10 * np.sin(phase))
    cv2.line(frame, (x, y + 14), (x - 12, y + 28 + swing), color, 3)
    cv2.line(frame, (x, y + 14), (x + 12, y + 28 - swing), color, 3)
    cv2.line(frame, (x, y + 40), (x - 8 - swing, y + 70), color, 3)
    cv2.line(frame, (x, y + 40), (x + 8 + swing, y + 70), color, 3)


def _person_box(x, y):
    return (x - 16.0, y - 8.0, x + 16.0, y + 72.0)


def _positions(i):
    return [(30 + 3 * i, 25), (120 - 2 * i, 35)]


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "people.mp4"
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT)
    )
    for i in range(FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
        for x, y in _positions(i):
            _figure(frame, x, y, i / 2)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def tiny_model(tmp_path):
    model = SlowFastDetector(stage_depths=[1, 1, 1, 1], num_frames=8, num_classes=3)
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
        for x, y in _positions(second * FPS + FPS // 2):
            lines.append(",".join(str(v) for v in (second, *_person_box(x, y))))
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
    x1, y1, x2, y2 = (int(v) for v in _person_box(*_positions(FPS // 2)[0]))
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


def test_motion_boxes_cover_the_figures():
    background = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    frame = background.copy()
    positions = _positions(5)
    for x, y in positions:
        _figure(frame, x, y, 1.0)
    boxes = motion_people(frame[..., ::-1], background)
    assert len(boxes) == 2
    for (x, y), box in zip(sorted(positions), sorted(boxes), strict=True):
        assert box[0] <= x - 12 and box[2] >= x + 12
        assert box[1] <= y - 6 and box[3] >= y + 70
    assert motion_people(background, background) == []


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
        assert hog_people(np.full((240, 160, 3), 200, np.uint8)) == []
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
    assert code == 2 and ".keras or .weights.h5" in capsys.readouterr().err


def test_detect_feeds_the_training_convention(video, tmp_path, monkeypatch):
    """A per-channel BGR convention: channels reversed first, then normalized.

    The clip the model receives equals ``transforms.normalize`` of the same
    letterboxed frames (the tested contract of the data pipeline), not the
    frames normalized with the RGB-ordered statistics and then reversed.
    """
    import keras_slowfast.commands.detect as detect
    from keras_slowfast.data.ava import letterbox
    from keras_slowfast.data.decode import VideoReader
    from keras_slowfast.data.sampling import keyframe_clip_instants
    from keras_slowfast.data.transforms import normalize

    convention = {"mean": [0.1, 0.5, 0.9], "std": [0.2, 0.4, 0.8]}
    convention["channel_order"] = "bgr"
    model = SlowFastDetector(
        stage_depths=[1, 1, 1, 1],
        num_frames=8,
        num_classes=3,
        input_convention=convention,
    )
    seen = []

    def recording_model(inputs, training=False):
        seen.append(np.asarray(inputs[0][0]))
        return model(inputs, training=training)

    recording_model.num_classes = model.num_classes
    recording_model.num_frames = model.num_frames
    recording_model.input_convention = model.input_convention
    monkeypatch.setattr(detect, "_load_model", lambda weights: recording_model)
    boxes = tmp_path / "boxes.csv"
    x, y = _positions(FPS // 2)[0]
    boxes.write_text("second,x1,y1,x2,y2\n0," + ",".join(map(str, _person_box(x, y))))
    code = main(
        [
            "detect",
            str(video),
            "--out",
            str(tmp_path / "a.mp4"),
            "--boxes",
            str(boxes),
            "--image-size",
            "64",
            "--sampling-rate",
            "1",
        ]
    )
    assert code == 0 and len(seen) == 1
    with VideoReader(str(video)) as reader:
        frames = reader.frames_at(keyframe_clip_instants(0.5, 8, 1))
    expected = normalize(letterbox(frames, 64)[0], convention)
    np.testing.assert_allclose(seen[0], expected, atol=1e-6)
    wrong_order = (letterbox(frames, 64)[0] / 255.0 - [0.1, 0.5, 0.9]) / [0.2, 0.4, 0.8]
    assert np.abs(seen[0] - wrong_order[..., ::-1]).max() > 0.1
