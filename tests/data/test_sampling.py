import numpy as np
import pytest

from keras_slowfast.data.sampling import (
    clip_indices,
    frame_step,
    last_start,
    random_clip_indices,
    uniform_clip_indices,
)


def test_frame_step_resamples_to_target_fps():
    assert frame_step(30, 2, 30) == 2
    assert frame_step(60, 2, 30) == 4
    assert frame_step(15, 2, 30) == 1
    assert frame_step(25, 2, 30) == pytest.approx(2 * 25 / 30)
    assert frame_step(0, 2, 30) == 2  # unknown fps: no resampling
    assert frame_step(60, 2, None) == 2


def test_random_clip_is_strided_and_inside_the_video():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        indices = random_clip_indices(300, 30.0, 32, 2, 30, rng=rng)
        assert indices.shape == (32,)
        np.testing.assert_array_equal(np.diff(indices), 2)
        assert indices[0] >= 0 and indices[-1] <= 299
        starts.add(int(indices[0]))
    # Starts cover [0, 300 - 63]: both ends reachable, many values seen.
    assert min(starts) <= 5 and max(starts) >= 230 and len(starts) > 100
    assert max(starts) <= 300 - 63


def test_random_clip_at_other_frame_rates():
    rng = np.random.default_rng(1)
    fast = random_clip_indices(600, 60.0, 8, 2, 30, rng=rng)
    np.testing.assert_array_equal(np.diff(fast), 4)
    slow = random_clip_indices(300, 15.0, 8, 2, 30, rng=rng)
    np.testing.assert_array_equal(np.diff(slow), 1)
    pal = random_clip_indices(300, 25.0, 4, 3, 30, rng=np.random.default_rng(2))
    start = pal[0]
    np.testing.assert_array_equal(pal, np.floor(start + np.arange(4) * 2.5))


def test_random_clip_is_reproducible_from_the_rng():
    a = random_clip_indices(500, 30.0, 16, 2, rng=np.random.default_rng(7))
    b = random_clip_indices(500, 30.0, 16, 2, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_uniform_clips_span_the_video():
    # 100 frames, clip of 8 frames at stride 2 spans 15 frames -> last start 85.
    assert last_start(100, 30.0, 8, 2, 30) == 85
    clips = [
        uniform_clip_indices(100, 30.0, 8, 2, 30, clip_index=i, num_clips=3)
        for i in range(3)
    ]
    np.testing.assert_array_equal(clips[0], np.arange(0, 16, 2))
    np.testing.assert_array_equal(clips[1], np.arange(43, 59, 2))  # 42.5 rounds up
    np.testing.assert_array_equal(clips[2], np.arange(85, 100, 2))
    ten = [
        uniform_clip_indices(300, 30.0, 32, 2, clip_index=i, num_clips=10)[0]
        for i in range(10)
    ]
    np.testing.assert_array_equal(ten, np.round(np.arange(10) * 237 / 9))
    center = uniform_clip_indices(100, 30.0, 8, 2, clip_index=0, num_clips=1)
    np.testing.assert_array_equal(center, np.arange(43, 59, 2))


def test_short_video_repeats_its_last_frame():
    indices = random_clip_indices(10, 30.0, 8, 2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(indices, [0, 2, 4, 6, 8, 9, 9, 9])
    for i in range(4):
        clip = uniform_clip_indices(10, 30.0, 8, 2, clip_index=i, num_clips=4)
        np.testing.assert_array_equal(clip, [0, 2, 4, 6, 8, 9, 9, 9])
    np.testing.assert_array_equal(clip_indices(1, 0, 4, 2.0), [0, 0, 0, 0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"clip_index": 3, "num_clips": 3}, "clip_index=3"),
        ({"clip_index": 0, "num_clips": 0}, "num_clips=0"),
    ],
)
def test_uniform_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        uniform_clip_indices(100, 30.0, 8, 2, **kwargs)


def test_bad_clip_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="num_video_frames=0"):
        random_clip_indices(0, 30.0, 8, 2, rng=rng)
    with pytest.raises(ValueError, match="sampling_rate=0"):
        random_clip_indices(10, 30.0, 8, 0, rng=rng)
    with pytest.raises(ValueError, match="target_fps=-1"):
        random_clip_indices(10, 30.0, 8, 2, -1, rng=rng)
