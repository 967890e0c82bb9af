"""detect_video and its person-box providers on a video of stick figures."""

import keras
import numpy as np
import pytest

from keras_slowfast.data.ava import letterbox
from keras_slowfast.data.decode import VideoDecodeError, VideoReader
from keras_slowfast.data.sampling import keyframe_clip_instants
from keras_slowfast.inference.detect import (
    HOGPeople,
    MotionPeople,
    SuppliedBoxes,
    detect_video,
    has_hog,
    hog_people,
    motion_people,
    person_boxes,
    read_box_csv,
)
from keras_slowfast.models.preprocessor import VideoPreprocessor
from tests.inference.people import (
    FPS,
    HEIGHT,
    WIDTH,
    box_scorer,
    draw_figure,
    person_box,
    positions,
    write_people_video,
)

BGR = {"mean": [0.40, 0.45, 0.50], "std": [0.20, 0.225, 0.25], "channel_order": "bgr"}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_people_video(tmp_path_factory.mktemp("people") / "people.mp4")


def test_detect_video_scores_each_supplied_box_on_its_keyframe_clip(video):
    model = box_scorer()
    model.preprocessor = VideoPreprocessor(**BGR)
    boxes = {s: [person_box(*p) for p in positions(s * FPS + FPS // 2)] for s in (0, 1)}
    del boxes[1][1]
    result = detect_video(
        model, video, boxes=boxes, sampling_rate=1, image_size=64, verbose=0
    )
    assert (result["width"], result["height"]) == (WIDTH, HEIGHT)
    assert result["duration"] == pytest.approx(2.0)
    assert result["person_boxes"] == "supplied"
    assert [s["second"] for s in result["seconds"]] == [0, 1]
    assert [s["keyframe"] for s in result["seconds"]] == [0.5, 1.5]
    with VideoReader(str(video)) as reader:
        for entry in result["seconds"]:
            second = entry["second"]
            np.testing.assert_allclose(entry["boxes"], boxes[second])
            assert entry["scores"].shape == (len(boxes[second]), 3)
            # The same clip built here: letterbox, then BGR statistics
            # applied after reversing the channels.
            instants = keyframe_clip_instants(entry["keyframe"], 8, 1)
            frames, scale, pad = letterbox(reader.frames_at(instants), 64)
            clip = (frames[..., ::-1] / 255.0 - BGR["mean"]) / BGR["std"]
            pixels = np.float32(boxes[second]) * scale + np.float32(pad * 2)
            expected = model([clip[None].astype("float32"), pixels[None]])[0]
            np.testing.assert_allclose(entry["scores"], expected, atol=1e-5)
            rgb_clip = (frames / 255.0 - BGR["mean"]) / BGR["std"]
            wrong = model([rgb_clip[None].astype("float32"), pixels[None]])[0]
            assert np.abs(np.asarray(wrong) - expected).max() > 1e-3


def test_seconds_without_people_have_no_scores(video):
    result = detect_video(box_scorer(), video, boxes={1: [(0, 0, 9, 9)]}, verbose=0)
    empty, found = result["seconds"]
    assert empty["boxes"].shape == (0, 4) and empty["scores"].shape == (0, 3)
    assert found["scores"].shape == (1, 3)


def test_detect_video_finds_moving_people_without_boxes(video):
    result = detect_video(box_scorer(), video, boxes="motion", image_size=64, verbose=0)
    assert result["person_boxes"] == "motion"
    assert all(len(s["boxes"]) >= 1 for s in result["seconds"])
    calls = []

    def provider(reader, second, keyframe):
        calls.append((second, keyframe))
        return []

    detect_video(box_scorer(), video, boxes=provider, verbose=0)
    assert calls == [(0, 0.5), (1, 1.5)]


def test_detect_video_bad_arguments(video, tmp_path):
    with pytest.raises(ValueError, match="boxes='yolo' must be one of"):
        detect_video(box_scorer(), video, boxes="yolo", verbose=0)
    with pytest.raises(ValueError, match="image_size=0"):
        detect_video(box_scorer(), video, image_size=0, verbose=0)
    inputs = keras.Input((8, 16, 16, 3))
    classifier = keras.Model(inputs, keras.layers.Flatten()(inputs))
    with pytest.raises(ValueError, match="detector taking"):
        detect_video(classifier, video, verbose=0)
    with pytest.raises(VideoDecodeError, match="file not found"):
        detect_video(box_scorer(), tmp_path / "none.mp4", boxes={}, verbose=0)


def test_motion_boxes_cover_the_figures():
    background = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
    frame = background.copy()
    drawn = positions(5)
    for x, y in drawn:
        draw_figure(frame, x, y, 1.0)
    boxes = motion_people(frame[..., ::-1], background)
    assert len(boxes) == 2
    for (x, y), box in zip(sorted(drawn), sorted(boxes), strict=True):
        assert box[0] <= x - 12 and box[2] >= x + 12
        assert box[1] <= y - 6 and box[3] >= y + 70
    assert motion_people(background, background) == []


def test_hog_people_or_a_clear_error():
    """OpenCV 4.x has HOG; OpenCV 5 does not, and the provider says so."""
    if has_hog():
        assert hog_people(np.full((240, 160, 3), 200, np.uint8)) == []
        assert isinstance(person_boxes("hog"), HOGPeople)
    else:
        with pytest.raises(ValueError, match="no HOG people detector"):
            person_boxes("hog")
    expected = HOGPeople if has_hog() else MotionPeople
    assert isinstance(person_boxes("auto"), expected)


def test_person_boxes_sources():
    supplied = person_boxes({"2": [[1, 2, 3, 4]]})
    assert isinstance(supplied, SuppliedBoxes)
    assert supplied(None, 2, 2.5) == [(1.0, 2.0, 3.0, 4.0)]
    assert supplied(None, 0, 0.5) == []
    assert isinstance(person_boxes("motion"), MotionPeople)
    provider = lambda reader, second, keyframe: []  # noqa: E731
    assert person_boxes(provider) is provider


def test_read_box_csv(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("second,x1,y1,x2,y2\n0,1,2,3,4\n0,5,6,7,8\n1.0,1,1,2,2\n")
    assert read_box_csv(path) == {
        0: [(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0)],
        1: [(1.0, 1.0, 2.0, 2.0)],
    }
    for text, message in [
        ("0,10,10,5,50\n", "x2 > x1"),
        ("0,1,2,3\n", "expected 'second,x1,y1,x2,y2'"),
        ("0,a,2,3,4\n", "non-numeric"),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_box_csv(path)
