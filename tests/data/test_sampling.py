import numpy as np
import pytest

from keras_slowfast.data.decode import frames_shown_at
from keras_slowfast.data.sampling import (
    clip_instants,
    clip_interval,
    clip_span,
    random_clip_instants,
    sliding_starts,
    uniform_clip_instants,
    uniform_starts,
    window_instants,
)


def test_interval_resamples_to_target_fps():
    assert clip_interval(2, 30) == pytest.approx(2 / 30)
    assert clip_interval(8, 30) == pytest.approx(8 / 30)
    # target_fps=None keeps the video's rate (30 if unknown).
    assert clip_interval(2, None, video_fps=60) == pytest.approx(2 / 60)
    assert clip_interval(2, None) == pytest.approx(2 / 30)
    assert clip_span(32, 2 / 30) == pytest.approx(64 / 30)


@pytest.mark.parametrize("fps, step", [(30, 2), (60, 4), (15, 1)])
def test_instants_pick_every_nth_frame_at_any_rate(fps, step):
    """sampling_rate 2 at 30 fps is every 2nd frame of a 30 fps video, every 4th
    of a 60 fps one, every frame of a 15 fps one."""
    frame_times = np.arange(300) / fps
    instants = clip_instants(10 / fps, 8, clip_interval(2, 30))
    np.testing.assert_array_equal(
        frames_shown_at(frame_times, instants), 10 + step * np.arange(8)
    )


def test_random_clip_stays_inside_the_video():
    rng = np.random.default_rng(0)
    starts = []
    for _ in range(300):
        instants = random_clip_instants(10.0, 32, 2, 30, rng=rng)
        assert instants.shape == (32,)
        np.testing.assert_allclose(np.diff(instants), 2 / 30)
        starts.append(instants[0])
        assert instants[0] >= 0 and instants[-1] + 2 / 30 <= 10.0 + 1e-9
    # Starts cover [0, 10 - 64/30]: both ends reachable.
    assert min(starts) < 0.1 and max(starts) > 10 - 64 / 30 - 0.1


def test_random_clip_is_reproducible_from_the_rng():
    a = random_clip_instants(20.0, 16, 2, rng=np.random.default_rng(7))
    b = random_clip_instants(20.0, 16, 2, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_uniform_clips_span_the_video():
    span = clip_span(8, 2 / 30)
    np.testing.assert_allclose(
        uniform_starts(10.0, span, 3), [0, 5 - span / 2, 10 - span]
    )
    np.testing.assert_allclose(uniform_starts(10.0, span, 1), [5 - span / 2])
    clips = [
        uniform_clip_instants(10.0, 8, 2, 30, clip_index=i, num_clips=3)
        for i in range(3)
    ]
    assert clips[0][0] == 0.0
    assert clips[2][-1] + 2 / 30 == pytest.approx(10.0)


def test_sliding_windows_cover_the_video():
    np.testing.assert_allclose(sliding_starts(10.0, 3.0), [0, 3, 6, 7])
    np.testing.assert_allclose(sliding_starts(9.0, 3.0), [0, 3, 6])
    np.testing.assert_allclose(sliding_starts(10.0, 3.0, 4.0), [0, 4, 7])
    np.testing.assert_allclose(sliding_starts(2.0, 3.0), [0])  # shorter: one window
    with pytest.raises(ValueError, match="stride=0"):
        sliding_starts(10.0, 3.0, 0)


def test_short_video_repeats_its_last_frame():
    frame_times = np.arange(10) / 30  # 10 frames
    instants = random_clip_instants(10 / 30, 8, 2, rng=np.random.default_rng(0))
    assert instants[0] == 0.0
    np.testing.assert_array_equal(
        frames_shown_at(frame_times, instants), [0, 2, 4, 6, 8, 9, 9, 9]
    )
    for i in range(4):
        clip = uniform_clip_instants(10 / 30, 8, 2, clip_index=i, num_clips=4)
        np.testing.assert_array_equal(clip, instants)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"clip_index": 3, "num_clips": 3}, "clip_index=3"),
        ({"clip_index": 0, "num_clips": 0}, "clip_index=0"),
    ],
)
def test_uniform_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        uniform_clip_instants(10.0, 8, 2, **kwargs)


def test_bad_clip_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="duration=nan"):
        random_clip_instants(float("nan"), 8, 2, rng=rng)
    with pytest.raises(ValueError, match="sampling_rate=0"):
        random_clip_instants(10.0, 8, 0, rng=rng)
    with pytest.raises(ValueError, match="target_fps=-1"):
        random_clip_instants(10.0, 8, 2, -1, rng=rng)
    with pytest.raises(ValueError, match="num_frames=0"):
        random_clip_instants(10.0, 0, 2, rng=rng)


def test_window_instants_cover_the_video():
    # 2.4 s, 8 frames every 0.2 s (sampling rate 2 at 10 fps) span 1.6 s.
    starts = window_instants(2.4, 8, 2, 10)[:, 0]
    np.testing.assert_allclose(starts, [0, 0.8])
    np.testing.assert_allclose(window_instants(2.4, 8, 2, 10)[1, -1], 2.2)
    np.testing.assert_allclose(
        window_instants(10.0, 8, 2, 10, window_stride=4)[:, 0], [0, 4, 8, 8.4]
    )
    np.testing.assert_allclose(window_instants(2.4, 8, 2, 10, num_clips=1)[:, 0], [0.4])
    np.testing.assert_allclose(
        window_instants(11.6, 8, 2, 10, num_clips=3)[:, 0], [0, 5, 10]
    )
    # Shorter than a window: one window from 0 (its end repeats the last frame).
    np.testing.assert_allclose(window_instants(1.0, 8, 2, 10)[:, 0], [0])
