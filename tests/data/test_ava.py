"""AVA-format readers and the keyframe clip pipeline on a generated video."""

import logging

import cv2
import numpy as np
import pytest

from keras_slowfast.data.ava import (
    AVADataConfig,
    AVADataset,
    boxes_to_pixels,
    letterbox,
    read_ava_csv,
    read_ava_rows,
    read_exclusions,
    read_label_map,
    read_proposals,
    write_detections,
)
from keras_slowfast.data.decode import frames_shown_at
from keras_slowfast.data.sampling import keyframe_clip_instants

WIDTH, HEIGHT, FPS, FRAMES = 80, 60, 30, 90
RED_BOX = (0.25, 0.2, 0.5, 0.8)


def _background(index):
    return 20 + 2 * index


def _write_video(path):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT)
    )
    assert writer.isOpened()
    for i in range(FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), _background(i), np.uint8)
        x1, y1, x2, y2 = (np.array(RED_BOX) * [WIDTH, HEIGHT, WIDTH, HEIGHT]).astype(
            int
        )
        frame[y1:y2, x1:x2] = (0, 0, 255)  # BGR red
        writer.write(frame)
    writer.release()


@pytest.fixture
def ava_dir(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    _write_video(videos / "clip_a.mp4")
    (videos / "broken.mp4").write_bytes(b"not a video at all")
    (tmp_path / "train.csv").write_text(
        "clip_a,1,0.25,0.2,0.5,0.8,1,0\n"
        "clip_a,1,0.25,0.2,0.5,0.8,3,0\n"
        "clip_a,1,0.6,0.1,0.9,0.9,3,1\n"
        "clip_a,2,0.25,0.2,0.5,0.8,2,0\n"
        "clip_a,0,0.1,0.1,0.2,0.2,1,0\n"
        "broken,1,0.1,0.1,0.5,0.5,1,0\n"
        "missing,1,0.1,0.1,0.5,0.5,1,0\n"
    )
    (tmp_path / "labels.pbtxt").write_text(
        'item {\n  name: "bend"\n  id: 1\n}\nitem {\n  name: "carry"\n  id: 2\n}\n'
        'item {\n  name: "dance"\n  id: 3\n}\n'
    )
    (tmp_path / "excluded.csv").write_text("clip_a,0\n")
    (tmp_path / "proposals.csv").write_text(
        "clip_a,1,0.25,0.2,0.5,0.8,,0.95\n"
        "clip_a,1,0.6,0.1,0.9,0.9,,0.5\n"
        "clip_a,2,0.1,0.1,0.3,0.4,,0.81\n"
    )
    return tmp_path


def test_readers(ava_dir):
    assert read_label_map(ava_dir / "labels.pbtxt") == {
        1: "bend",
        2: "carry",
        3: "dance",
    }
    excluded = read_exclusions(ava_dir / "excluded.csv")
    assert excluded == {("clip_a", 0)}
    rows = read_ava_rows(ava_dir / "train.csv", exclusions=excluded)
    assert len(rows) == 6 and rows[0].person_id == 0 and rows[0].score == 1.0
    grouped = read_ava_csv(ava_dir / "train.csv", exclusions=excluded, class_ids=[1, 3])
    assert ("clip_a", 0) not in grouped
    boxes = grouped[("clip_a", 1)]
    assert [b.labels for b in boxes] == [(1, 3), (3,)]
    assert boxes[0].box == RED_BOX
    assert ("clip_a", 2) not in grouped  # only class 2 there, filtered
    proposals = read_proposals(ava_dir / "proposals.csv")
    assert [len(v) for v in proposals.values()] == [1, 1]
    assert proposals[("clip_a", 1)][0].score == 0.95
    assert proposals[("clip_a", 1)][0].labels == ()
    assert (
        len(
            read_proposals(ava_dir / "proposals.csv", score_threshold=0.4)[
                ("clip_a", 1)
            ]
        )
        == 2
    )


def test_reader_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("clip,1,0.1,0.1\n")
    with pytest.raises(ValueError, match="bad.csv:1: expected"):
        read_ava_rows(bad)
    bad.write_text("clip,1,0.1,0.1,0.2,0.2,run,0\n")
    with pytest.raises(ValueError, match="action id 'run'"):
        read_ava_rows(bad)
    empty = tmp_path / "empty.pbtxt"
    empty.write_text("nothing here")
    with pytest.raises(ValueError, match="empty.pbtxt"):
        read_label_map(empty)
    with pytest.raises(FileNotFoundError):
        read_ava_rows(tmp_path / "nope.csv")


def test_keyframe_instants_and_letterbox():
    frame_times = np.arange(90) / 30  # a 3 s video at 30 fps
    instants = keyframe_clip_instants(1, 8, 2)
    np.testing.assert_allclose(instants, (22 + 2 * np.arange(8)) / 30)
    np.testing.assert_array_equal(
        frames_shown_at(frame_times, instants), [22, 24, 26, 28, 30, 32, 34, 36]
    )
    # AVA cuts start at 900 s.
    np.testing.assert_allclose(
        keyframe_clip_instants(902, 4, 3, 30, 900), [1.8, 1.9, 2.0, 2.1]
    )
    # Before the video's start: its first frame; past its end: its last.
    np.testing.assert_array_equal(
        frames_shown_at(frame_times, keyframe_clip_instants(0, 4, 2)), [0, 0, 0, 2]
    )
    np.testing.assert_array_equal(
        frames_shown_at(frame_times, keyframe_clip_instants(3, 4, 2)), [86, 88, 89, 89]
    )
    frames = np.zeros((2, 60, 80, 3), np.uint8)
    boxed, scale, pad = letterbox(frames, 64)
    assert boxed.shape == (2, 64, 64, 3) and scale == 0.8 and pad == (0, 8)
    np.testing.assert_allclose(
        boxes_to_pixels([RED_BOX], 60, 80, scale, pad),
        [[16, 17.6, 32, 46.4]],
        atol=1e-4,
    )


def test_dataset_samples(ava_dir, caplog):
    class_ids = sorted(read_label_map(ava_dir / "labels.pbtxt"))
    boxes = read_ava_csv(
        ava_dir / "train.csv", exclusions=read_exclusions(ava_dir / "excluded.csv")
    )
    config = AVADataConfig(num_frames=8, sampling_rate=2, image_size=64, max_boxes=3)
    data = AVADataset(ava_dir / "videos", boxes, class_ids, config)
    with caplog.at_level(logging.WARNING, logger="keras_slowfast"):
        samples = list(data.generate())
    # clip_a at 1 s and 2 s; "broken" and "missing" skipped, one warning each.
    assert len(samples) == 2
    assert data.skipped_videos == {"broken", "missing"}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and any("broken" in w for w in warnings)

    (clip, pixel_boxes), labels = samples[0]
    assert clip.shape == (8, 64, 64, 3) and clip.dtype == np.float32
    np.testing.assert_allclose(pixel_boxes[0], [16, 17.6, 32, 46.4], atol=1e-4)
    np.testing.assert_array_equal(pixel_boxes[2], [-1, -1, -1, -1])
    np.testing.assert_array_equal(labels, [[1, 0, 1], [0, 0, 1], [-1, -1, -1]])
    # Frames 22..36 around the keyframe: background grey level 2 * i + 20.
    rgb = clip * 0.225 + 0.45
    grey = rgb[:, 10:14, 40:60, 1].mean(axis=(1, 2)) * 255  # below the pad (y < 8)
    np.testing.assert_allclose(grey, [_background(i) for i in range(22, 38, 2)], atol=4)
    # The red person box lands where the pixel boxes say.
    x1, y1, x2, y2 = pixel_boxes[0].astype(int)
    inside = rgb[4, y1 + 3 : y2 - 3, x1 + 3 : x2 - 3]
    assert inside[..., 0].mean() > 0.9 and inside[..., 1].mean() < 0.2

    flipped = AVADataset(
        ava_dir / "videos",
        boxes,
        class_ids,
        AVADataConfig(**{**config.__dict__, "flip": True, "seed": 1}),
    )
    # Over several keyframes at least one flip happens, and boxes follow it.
    found = False
    for key in flipped.keys:
        sample = flipped.sample(key, np.random.default_rng(3))
        if sample is None:
            continue
        flip_clip, flip_boxes, _, normalized = sample
        if normalized[0, 0] == pytest.approx(1 - RED_BOX[2]):
            found = True
            x1, y1, x2, y2 = flip_boxes[0].astype(int)
            red = flip_clip[4, y1 + 3 : y2 - 3, x1 + 3 : x2 - 3, 0] * 0.225 + 0.45
            assert red.mean() > 0.9
    assert found


def test_per_channel_bgr_convention(ava_dir):
    """BGR models get reordered channels, normalized with BGR statistics."""
    class_ids = sorted(read_label_map(ava_dir / "labels.pbtxt"))
    boxes = read_ava_csv(ava_dir / "train.csv")
    rgb = AVADataConfig(num_frames=8, image_size=64, max_boxes=3)
    bgr = AVADataConfig(
        **{
            **rgb.__dict__,
            "mean": (0.1, 0.5, 0.9),
            "std": (0.2, 0.4, 0.8),
            "channel_order": "bgr",
        }
    )
    key = next(k for k in sorted(boxes) if k[0] == "clip_a")
    clip_rgb, clip_bgr = (
        AVADataset(ava_dir / "videos", boxes, class_ids, config).sample(
            key, np.random.default_rng(0)
        )[0]
        for config in (rgb, bgr)
    )
    frames = np.round((clip_rgb * 0.225 + 0.45) * 255).astype(np.uint8)
    expected = (frames[..., ::-1] / 255.0 - bgr.mean) / bgr.std
    np.testing.assert_allclose(clip_bgr, expected, atol=1e-5)
    # Inside the red person box: red is channel 2, (1 - 0.9) / 0.8; blue
    # channel 0, (0 - 0.1) / 0.2.
    red = clip_bgr[4, 20:40, 20:30]
    assert red[..., 2].mean() == pytest.approx(0.125, abs=0.05)
    assert red[..., 0].mean() == pytest.approx(-0.5, abs=0.1)


def test_config_convention_is_checked_and_gives_the_preprocessor():
    config = AVADataConfig(mean=(0.1, 0.5, 0.9), channel_order="bgr")
    assert config.preprocessor.input_convention == {
        "mean": [0.1, 0.5, 0.9],
        "std": [0.225] * 3,
        "channel_order": "bgr",
    }
    with pytest.raises(ValueError, match="channel_order='hsv'"):
        AVADataConfig(channel_order="hsv")
    with pytest.raises(ValueError, match="std="):
        AVADataConfig(std=(0.2, 0.0, 0.2))


def test_tf_dataset_and_training_step(ava_dir, tmp_path):
    import keras

    from keras_slowfast.models import DetectionBinaryCrossentropy
    from tests.tiny_models import tiny_detector

    class_ids = [1, 2, 3]
    boxes = read_ava_csv(ava_dir / "train.csv")
    config = AVADataConfig(num_frames=8, image_size=64, max_boxes=2)
    data = AVADataset(ava_dir / "videos", boxes, class_ids, config)
    dataset = data.as_tf_dataset(batch_size=2, shuffle=True)
    (clips, pixel_boxes), labels = next(iter(dataset))
    assert tuple(clips.shape) == (2, 8, 64, 64, 3)
    assert tuple(pixel_boxes.shape) == (2, 2, 4) and tuple(labels.shape) == (2, 2, 3)

    model = tiny_detector(3)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01), loss=DetectionBinaryCrossentropy()
    )
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    keyed = data.as_tf_dataset(batch_size=1, with_keys=True)
    rows = []
    for (clip, box), _, (video_id, timestamp, normalized) in keyed:
        scores = np.asarray(model([clip, box], training=False))[0]
        for row, score_row in enumerate(scores):
            if normalized[0, row, 0] < 0:
                continue
            for index, score in enumerate(score_row):
                rows.append(
                    (
                        video_id[0].numpy().decode(),
                        int(timestamp[0]),
                        normalized[0, row].numpy(),
                        class_ids[index],
                        score,
                    )
                )
    path = tmp_path / "detections.csv"
    write_detections(path, rows)
    written = read_ava_rows(path)
    assert len(written) == len(rows) > 0
    assert written[0].score == pytest.approx(rows[0][4], abs=1e-6)
