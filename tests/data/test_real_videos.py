"""Real-looking videos through every path: decoder, training, evaluation, predict.

Each clip is checked against a reference computed here from the (timestamp,
frame) pairs PyAV decodes front to back: the frame shown at an instant is the
last one at or before it (the first one before the first frame).
"""

import subprocess
import sys

import numpy as np
import pytest

from keras_slowfast.data import sampling
from keras_slowfast.data.datasets import VideoClipDataset, VideoDataConfig
from keras_slowfast.data.decode import VideoReader, frames_shown_at, read_frames_at
from keras_slowfast.inference.classify import _ClipClassifier, predict_video
from tests.data.real_videos import (
    decoded_sequence,
    stamped_indices,
    write_pyav_video,
    write_real_videos,
)
from tests.data.video_files import unnormalize
from tests.tiny_models import tiny_classifier

BACKENDS = ["opencv", "pyav"]
KINDS = [
    "h264_bframes",
    "variable_rate",
    "mpeg4_bframes",
    "repeat_entries",
    "cinepak",
    "count_too_large",
    "truncated",
    "bad_keyframe",
]
# 8 frames, 96x96 crops of the 96x128 test frames: no vertical crop, so every
# index stripe survives; no flip.
CONFIG = dict(
    num_frames=8,
    sampling_rate=4,
    train_short_side=(96, 96),
    train_crop_size=96,
    random_flip=False,
    eval_short_side=96,
    eval_crop_size=96,
    num_clips=4,
    num_crops=1,
    num_parallel_calls=1,
)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    paths = write_real_videos(tmp_path_factory.mktemp("real"))
    return {kind: (path, *decoded_sequence(path)) for kind, path in paths.items()}


def _expected(reference, instants):
    _, timestamps, frames = reference
    return frames[frames_shown_at(timestamps, instants)]


def test_reference_files_are_what_they_claim(videos):
    """The collection has the defects it is named after."""
    for kind, (path, timestamps, frames) in videos.items():
        with VideoReader(path, "pyav") as reader:
            nominal = reader.info.num_frames
        indices = stamped_indices(frames)
        if kind in ("variable_rate", "repeat_entries"):
            gaps = np.diff(timestamps)
            assert gaps.max() > 5 * np.median(gaps), kind
        if kind == "repeat_entries":
            assert nominal > 4 * len(frames)  # "repeat previous frame" entries
        if kind in ("count_too_large", "truncated"):
            assert len(frames) < nominal
        if kind == "bad_keyframe":
            assert indices[0] > 0  # the first key frame's group is lost
        if kind == "mpeg4_bframes":
            assert timestamps[0] > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_clips_are_the_frames_shown_at_the_instants(videos, kind, backend):
    reference = videos[kind]
    path, timestamps, _ = reference
    duration = timestamps[-1] + 0.5
    rng = np.random.default_rng(0)
    windows = [
        np.linspace(-0.3, 0.4, 8),  # before the first frame
        duration - 0.2 + np.arange(6) / 15,  # past the last frame
        np.sort(rng.uniform(0, duration, 8)),
        rng.uniform(0, duration, 8),  # any order, far apart
        np.repeat(duration / 2, 3),
    ]
    starts = np.linspace(0, duration, 7)  # consecutive, overlapping windows
    windows += [start + np.arange(12) / 10 for start in starts]
    windows += [np.linspace(0.1, 0.5, 8)]  # back to the start
    with VideoReader(path, backend) as reader:
        for instants in windows:
            clip = reader.frames_at(instants)
            expected = _expected(reference, instants)
            assert stamped_indices(clip) == stamped_indices(expected), instants
            # Same pixels up to YUV rounding (both decoders use FFmpeg).
            assert np.abs(clip.astype(int) - expected).mean() < 2.0
    one = read_frames_at(path, windows[2], backend=backend)
    assert stamped_indices(one) == stamped_indices(_expected(reference, windows[2]))


def _clip_indices(clip):
    return stamped_indices(unnormalize(clip))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_training_and_evaluation_clips(videos, kind, backend):
    reference = videos[kind]
    path = reference[0]
    data = VideoClipDataset(
        [path], [0], config=VideoDataConfig(backend=backend, **CONFIG)
    )
    with VideoReader(path, backend) as reader:
        duration, fps = reader.info.duration, reader.info.fps
    for seed in (1, 2, 3):
        frames, ok = data._train_clip(0, seed)  # uint8, normalized in the graph
        assert ok
        # The pipeline draws the start first from the clip's own generator.
        instants = sampling.random_clip_instants(
            duration, 8, 4, 30.0, video_fps=fps, rng=np.random.default_rng(seed)
        )
        assert stamped_indices(frames) == stamped_indices(
            _expected(reference, instants)
        )
    views = [clip for clip, _ in data.build(training=False).as_numpy_iterator()]
    assert len(views) == CONFIG["num_clips"]
    for clip_index, clip in enumerate(views):
        instants = sampling.uniform_clip_instants(
            duration, 8, 4, 30.0, clip_index=clip_index, num_clips=4, video_fps=fps
        )
        assert _clip_indices(clip) == stamped_indices(_expected(reference, instants))
    assert data.stats.skipped == 0


@pytest.fixture(scope="module")
def model():
    return tiny_classifier()


def _record_views(monkeypatch):
    """Records the uint8 frames ``predict_video`` prepares, window by window."""
    seen = []
    original = _ClipClassifier.views

    def views(self, frames):
        seen.append(frames.copy())
        return original(self, frames)

    monkeypatch.setattr(_ClipClassifier, "views", views)
    return seen


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_predict_video_frames(videos, model, monkeypatch, kind, backend):
    reference = videos[kind]
    path = reference[0]
    seen = _record_views(monkeypatch)
    with VideoReader(path, backend) as reader:
        duration = reader.info.duration
    for num_clips in (None, 3):
        seen.clear()
        result = predict_video(
            model, path, sampling_rate=4, num_clips=num_clips, crop_size=96,
            short_side=96, backend=backend, verbose=0,
        )  # fmt: skip
        windows = sampling.window_instants(duration, 8, 4, 30.0, num_clips=num_clips)
        assert len(result["windows"]) == len(windows) == len(seen)
        for frames, instants in zip(seen, windows, strict=True):
            assert stamped_indices(frames) == stamped_indices(
                _expected(reference, instants)
            )


def _record_instants(monkeypatch):
    seen = []
    original = VideoReader.frames_at

    def frames_at(self, instants):
        seen.append(np.asarray(instants, np.float64).copy())
        return original(self, instants)

    monkeypatch.setattr(VideoReader, "frames_at", frames_at)
    return seen


@pytest.mark.parametrize("rate", ["30fps", "60fps", "variable"])
def test_predict_video_and_evaluation_sample_the_same_instants(
    tmp_path, model, monkeypatch, rate
):
    times = {
        "30fps": np.arange(150) / 30,
        "60fps": np.arange(250) / 60,
        "variable": np.cumsum(np.random.default_rng(3).uniform(0.005, 0.09, 120)),
    }[rate]
    path = write_pyav_video(tmp_path / f"{rate}.mp4", list(times - times[0]))
    seen = _record_instants(monkeypatch)
    predict_video(
        model, path, sampling_rate=2, num_clips=5, crop_size=96, short_side=96,
        verbose=0,
    )  # fmt: skip
    predicted = list(seen)
    seen.clear()
    config = VideoDataConfig(**{**CONFIG, "sampling_rate": 2, "num_clips": 5})
    data = VideoClipDataset([path], [0], config=config)
    seen.clear()  # the constructor reads one frame to check the file
    list(data.build(training=False).as_numpy_iterator())
    assert len(predicted) == len(seen) == 5
    for ours, theirs in zip(predicted, seen, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The windows span the video: first at 0, last ending at its end.
    assert predicted[0][0] == 0.0
    interval = 2 / 30
    assert predicted[-1][-1] + interval == pytest.approx(
        VideoReader(path).info.duration
    )


def _count_decoded(monkeypatch):
    count = [0]
    original = VideoReader._pull

    def pull(self):
        decoded = original(self)
        count[0] += decoded
        return decoded

    monkeypatch.setattr(VideoReader, "_pull", pull)
    return count


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_late_window_does_not_decode_the_whole_video(videos, monkeypatch, backend):
    path, timestamps, _ = videos["h264_bframes"]  # 240 frames, key frame every 30
    count = _count_decoded(monkeypatch)
    with VideoReader(path, backend) as reader:
        reader.frames_at(6.5 + np.arange(8) / 15)
    assert 0 < count[0] <= 60, count[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_predict_video_decodes_each_frame_once(videos, model, monkeypatch, backend):
    path, timestamps, _ = videos["h264_bframes"]
    count = _count_decoded(monkeypatch)
    result = predict_video(
        model, path, sampling_rate=2, window_stride=0.2, crop_size=96,
        short_side=96, backend=backend, verbose=0,
    )  # fmt: skip
    assert len(result["windows"]) > 20  # heavily overlapping windows
    assert count[0] <= len(timestamps), count[0]


def test_ffmpeg_messages_go_to_the_logger_not_stderr(videos):
    """A damaged key frame makes FFmpeg complain; stderr stays clean and, with
    the logger at DEBUG, PyAV's lines arrive there."""
    path = videos["bad_keyframe"][0]
    code = (
        "import logging, sys\n"
        "records = []\n"
        "class Keep(logging.Handler):\n"
        "    def emit(self, record): records.append(record.getMessage())\n"
        "log = logging.getLogger('keras_slowfast')\n"
        "log.setLevel(logging.DEBUG); log.addHandler(Keep())\n"
        "from keras_slowfast.data.decode import read_frames_at\n"
        f"for backend in ('opencv', 'pyav'):\n"
        f"    read_frames_at({path!r}, [0.0, 2.0], backend=backend)\n"
        "print(sum('FFmpeg' in r for r in records))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[h264 @" not in result.stderr and "NAL" not in result.stderr
    assert "[h264 @" not in result.stdout
    assert int(result.stdout.split()[-1]) > 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["h264_bframes", "variable_rate", "bad_keyframe"])
def test_explain_video_frames(videos, model, monkeypatch, tmp_path, kind, backend):
    """``explain`` explains the frames a player shows, window by window."""
    from keras_slowfast.explain import video as explain_module

    reference = videos[kind]
    path = reference[0]
    seen = []
    original = explain_module.grad_cam

    def recording(model, clip, **kwargs):
        seen.append(np.asarray(clip)[0])
        return original(model, clip, **kwargs)

    monkeypatch.setattr(explain_module, "grad_cam", recording)
    result = explain_module.explain_video(
        model, path, frames_out=str(tmp_path), sampling_rate=4, short_side=96,
        crop_size=96, backend=backend, verbose=0,
    )  # fmt: skip
    with VideoReader(path, backend) as reader:
        windows = sampling.window_instants(reader.info.duration, 8, 4, 30.0)
    assert len(seen) == len(windows) == len(result["windows"])
    assert result["frames"] == 8 * len(windows) == len(list(tmp_path.iterdir()))
    for clip, instants in zip(seen, windows, strict=True):
        assert stamped_indices(np.round(unnormalize(clip))) == stamped_indices(
            _expected(reference, instants)
        )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["h264_bframes", "variable_rate", "bad_keyframe"])
def test_detect_video_frames(videos, monkeypatch, kind, backend):
    """``detect_video`` scores each second on the frames a player shows then."""
    from keras_slowfast.inference import detect as detect_module
    from tests.tiny_models import tiny_detector

    reference = videos[kind]
    path = reference[0]
    seen = []
    original = detect_module.letterbox

    def recording(frames, size):
        seen.append(np.asarray(frames).copy())
        return original(frames, size)

    monkeypatch.setattr(detect_module, "letterbox", recording)
    with VideoReader(path, backend) as reader:
        duration = reader.info.duration
    seconds = int(np.ceil(duration))
    boxes = {s: [(10.0, 10.0, 80.0, 90.0)] for s in range(seconds)}
    result = detect_module.detect_video(
        tiny_detector(3), path, boxes=boxes, sampling_rate=4, image_size=64,
        backend=backend, verbose=0,
    )  # fmt: skip
    assert [s["second"] for s in result["seconds"]] == list(range(seconds))
    assert len(seen) == seconds
    for frames, entry in zip(seen, result["seconds"], strict=True):
        assert entry["keyframe"] == min(entry["second"] + 0.5, duration)
        instants = sampling.keyframe_clip_instants(entry["keyframe"], 8, 4, 30.0)
        assert stamped_indices(frames) == stamped_indices(
            _expected(reference, instants)
        )
        assert entry["scores"].shape == (1, 3)
