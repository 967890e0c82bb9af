"""Temporal sampling: which instants (seconds) a clip or a window shows.

A clip is ``num_frames`` instants ``start + k * interval`` (k < num_frames),
with ``interval = sampling_rate / target_fps`` seconds: ``sampling_rate``
frames of the video resampled to ``target_fps`` (PySlowFast's
``SAMPLING_RATE`` and ``TARGET_FPS``). The frames are those shown at these
instants (``keras_slowfast.data.decode``), whatever the file's frame rate.
A clip spans ``num_frames * interval`` seconds, as PyTorchVideo's
``clip_duration`` (``num_frames * sampling_rate / fps``).

Training takes one clip at a start drawn uniformly from
``[0, duration - span]``; evaluation and prediction take ``num_clips`` clips
whose starts are spread evenly from 0 to ``duration - span`` (one clip is
centered), as PyTorchVideo's ``ConstantClipsPerVideoSampler``; sliding windows
cover a video side by side (or with a chosen stride) with a last window ending
at the video's end.

Short videos: when the video is shorter than a clip, the clip starts at 0 and
its late instants show the last frame, so the last frame repeats (as
PySlowFast's ``temporal_sampling``); videos are never looped.

This module is the one owner of window placement: the tf.data pipeline,
``predict_video`` and ``detect_video`` all call it.
"""

import math

import numpy as np

DEFAULT_TARGET_FPS = 30.0


def clip_interval(sampling_rate, target_fps=DEFAULT_TARGET_FPS, video_fps=None):
    """Seconds between two frames of a clip: ``sampling_rate / target_fps``.

    Args:
        sampling_rate: int. Clip stride in frames at ``target_fps``.
        target_fps: float or None. Rate the video is resampled to; None keeps
            the video's own rate (``video_fps``; 30 when unknown).
        video_fps: float or None. The video's nominal rate, used only when
            ``target_fps`` is None.
    """
    if sampling_rate < 1:
        raise ValueError(f"sampling_rate={sampling_rate} must be >= 1")
    if target_fps is not None and target_fps <= 0:
        raise ValueError(f"target_fps={target_fps} must be > 0 or None")
    rate = target_fps or video_fps or DEFAULT_TARGET_FPS
    return float(sampling_rate) / float(rate)


def clip_span(num_frames, interval):
    """Seconds a clip of ``num_frames`` instants ``interval`` apart covers."""
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames} must be >= 1")
    return num_frames * interval


def clip_instants(start, num_frames, interval):
    """``start + k * interval`` for k < ``num_frames`` (float64 seconds)."""
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames} must be >= 1")
    return float(start) + np.arange(num_frames, dtype=np.float64) * interval


def _last_start(duration, span):
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"duration={duration} must be finite seconds >= 0")
    return max(float(duration) - span, 0.0)


def uniform_starts(duration, span, num_clips):
    """Starts of ``num_clips`` windows spread evenly over a video.

    The first window starts at 0 and the last ends at ``duration``; a single
    window is centered; a video shorter than a window gives starts of 0.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips={num_clips} must be >= 1")
    last = _last_start(duration, span)
    if num_clips == 1:
        return np.array([last / 2.0])
    return last * np.arange(num_clips, dtype=np.float64) / (num_clips - 1)


def sliding_starts(duration, span, stride=None):
    """Starts of windows ``stride`` seconds apart (default: ``span``, side by
    side), plus a last window ending at ``duration`` if the others miss it."""
    stride = span if stride is None else float(stride)
    if not stride > 0:
        raise ValueError(f"window stride={stride} must be > 0 seconds")
    last = _last_start(duration, span)
    starts = list(np.arange(0.0, last + 1e-9, stride))
    if last - starts[-1] > 1e-6:
        starts.append(last)
    return np.asarray(starts, np.float64)


def random_clip_instants(
    duration, num_frames, sampling_rate, target_fps=DEFAULT_TARGET_FPS, *,
    video_fps=None, rng,
):  # fmt: skip
    """Instants of one training clip at a uniformly random start.

    Args:
        duration: float. The video's length in seconds.
        num_frames: int. Frames in the clip.
        sampling_rate: int. Clip stride in frames at ``target_fps``.
        target_fps: float or None. Rate the video is resampled to.
        video_fps: float or None. The video's rate (used when target_fps is
            None).
        rng: ``numpy.random.Generator``. Source of the start (explicit, for
            reproducible pipelines).

    Returns:
        float64 array ``(num_frames,)`` of seconds.
    """
    interval = clip_interval(sampling_rate, target_fps, video_fps)
    last = _last_start(duration, clip_span(num_frames, interval))
    return clip_instants(rng.uniform(0.0, last), num_frames, interval)


def uniform_clip_instants(
    duration, num_frames, sampling_rate, target_fps=DEFAULT_TARGET_FPS, *,
    clip_index, num_clips, video_fps=None,
):  # fmt: skip
    """Instants of evaluation clip ``clip_index`` of ``num_clips``.

    The clips' starts are :func:`uniform_starts`; ``predict_video`` with
    ``num_clips`` uses the same starts.

    Returns:
        float64 array ``(num_frames,)`` of seconds.
    """
    if not 0 <= clip_index < num_clips:
        raise ValueError(f"clip_index={clip_index} must be in [0, {num_clips})")
    interval = clip_interval(sampling_rate, target_fps, video_fps)
    starts = uniform_starts(duration, clip_span(num_frames, interval), num_clips)
    return clip_instants(starts[clip_index], num_frames, interval)


def window_instants(
    duration, num_frames, sampling_rate=2, target_fps=DEFAULT_TARGET_FPS, *,
    num_clips=None, window_stride=None, video_fps=None,
):  # fmt: skip
    """The instants of every window ``predict_video`` classifies.

    Multi-view (``num_clips``) windows are exactly the evaluation pipeline's
    (:func:`uniform_clip_instants`); sliding windows follow each other (or
    overlap, ``window_stride`` seconds apart) with a last one ending at the
    video's end (:func:`sliding_starts`).

    Returns:
        float64 array ``(num_windows, num_frames)`` of seconds.
    """
    interval = clip_interval(sampling_rate, target_fps, video_fps)
    span = clip_span(num_frames, interval)
    if num_clips is not None:
        starts = uniform_starts(duration, span, num_clips)
    else:
        starts = sliding_starts(duration, span, window_stride)
    return np.stack([clip_instants(s, num_frames, interval) for s in starts])


def keyframe_clip_instants(
    timestamp, num_frames, sampling_rate, target_fps=DEFAULT_TARGET_FPS,
    time_offset=0.0,
):  # fmt: skip
    """Instants of a clip centred on a keyframe (AVA detection).

    The clip takes ``num_frames`` instants ``sampling_rate / target_fps``
    seconds apart, half of its span before the keyframe at ``timestamp -
    time_offset`` seconds (PySlowFast ``ava_helper``/``get_sequence``, whose
    AVA frames are at 30 fps). ``time_offset`` is 900 for the AVA 15-minute
    cuts whose timestamps count from the start of the movie. Instants before
    the video's start show its first frame, past its end its last.
    """
    interval = clip_interval(sampling_rate, target_fps)
    center = float(timestamp) - float(time_offset)
    return clip_instants(
        center - clip_span(num_frames, interval) / 2.0, num_frames, interval
    )
