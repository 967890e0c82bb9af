import subprocess
import sys

import numpy as np
import pytest

from keras_slowfast.data.decode import (
    VideoDecodeError,
    VideoInfo,
    VideoReader,
    probe_video,
    read_frames_at,
)
from tests.data.video_files import (
    HEIGHT,
    WIDTH,
    frame_index,
    pattern_frame,
    write_broken_files,
    write_video,
)

BACKENDS = ["opencv", "pyav"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    return {
        "avi": write_video(root / "clip.avi", 120),
        "mp4": write_video(root / "clip.mp4", 250, fourcc="mp4v"),
        "broken": write_broken_files(root),
        "root": root,
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["avi", "mp4"])
def test_probe(videos, backend, kind):
    info = probe_video(videos[kind], backend=backend)
    assert isinstance(info, VideoInfo)
    assert info.num_frames == (120 if kind == "avi" else 250)
    assert info.fps == pytest.approx(30.0)
    assert (info.height, info.width) == (HEIGHT, WIDTH)
    assert info.duration == pytest.approx(info.num_frames / 30.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["avi", "mp4"])
def test_read_frames_at_exact_instants(videos, backend, kind):
    # Unordered, repeated, and far from the start (seek path) indices.
    indices = [100, 102, 104, 7, 7, 119, 0]
    frames = read_frames_at(videos[kind], np.array(indices) / 30, backend=backend)
    assert frames.shape == (len(indices), HEIGHT, WIDTH, 3)
    assert frames.dtype == np.uint8
    assert [frame_index(f) for f in frames] == indices
    # Pixels match the written pattern up to codec loss (RGB order kept).
    np.testing.assert_allclose(
        frames[0].astype(float).mean(axis=(0, 1)),
        pattern_frame(100).astype(float).mean(axis=(0, 1)),
        atol=4,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_seek_deep_into_long_mp4(videos, backend):
    indices = np.arange(200, 250, 3)
    with VideoReader(videos["mp4"], backend=backend) as reader:
        frames = reader.frames_at(indices / 30)
    assert [frame_index(f) for f in frames] == list(indices)


@pytest.mark.parametrize("backend", BACKENDS)
def test_instants_past_the_end_show_the_last_frame(videos, backend):
    frames = read_frames_at(videos["avi"], [118 / 30, 119 / 30, 5.0], backend=backend)
    assert [frame_index(f) for f in frames] == [118, 119, 119]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "kind", ["truncated", "random_bytes", "empty", "text", "zero_frames"]
)
def test_broken_files_raise_naming_the_file(videos, backend, kind):
    path = videos["broken"][kind]
    with pytest.raises(VideoDecodeError) as error:
        read_frames_at(path, [0, 1 / 3], backend=backend)
    assert str(error.value).startswith(path)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_file_and_directory(videos, backend):
    missing = str(videos["root"] / "nope.mp4")
    with pytest.raises(VideoDecodeError, match="file not found"):
        probe_video(missing, backend=backend)
    with pytest.raises(VideoDecodeError, match="is a directory"):
        probe_video(str(videos["root"]), backend=backend)


def test_bad_arguments(videos):
    with pytest.raises(ValueError, match="backend='gst'"):
        probe_video(videos["avi"], backend="gst")
    with pytest.raises(ValueError, match="at least one time"):
        read_frames_at(videos["avi"], [])
    with pytest.raises(ValueError, match="finite seconds"):
        read_frames_at(videos["avi"], [float("nan")])


def test_pyav_is_imported_lazily():
    code = (
        "import sys; import keras_slowfast.data.decode as d; "
        "assert 'av' not in sys.modules, 'av imported eagerly'; print('ok')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
