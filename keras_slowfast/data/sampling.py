"""Temporal clip sampling: which frames of a video make up one clip.

A clip is ``num_frames`` frames taken every ``sampling_rate`` frames of the
video resampled to ``target_fps``: in source frames the step is
``sampling_rate * video_fps / target_fps`` (2 for a 30 fps video at 30 fps
target, 1 for a 15 fps video), and frame ``k`` of a clip starting at ``start``
is ``floor(start + k * step)``.

Training takes one clip at a random start; evaluation takes ``num_clips``
clips whose starts are spread evenly from the first to the last possible start
(as PyTorchVideo's ``ConstantClipsPerVideoSampler``).

Short videos: when a video has fewer frames than a clip spans, the clip starts
at frame 0 and indices past the end are clamped to the last frame, so the last
frame is repeated (as PySlowFast's ``temporal_sampling`` does); videos are never
looped.
"""

import math

import numpy as np


def _check_clip_args(
    num_video_frames, video_fps, num_frames, sampling_rate, target_fps
):
    if num_video_frames < 1:
        raise ValueError(f"num_video_frames={num_video_frames} must be >= 1")
    if num_frames < 1:
        raise ValueError(f"num_frames={num_frames} must be >= 1")
    if sampling_rate < 1:
        raise ValueError(f"sampling_rate={sampling_rate} must be >= 1")
    if target_fps is not None and target_fps <= 0:
        raise ValueError(f"target_fps={target_fps} must be > 0 or None")
    if video_fps is not None and video_fps < 0:
        raise ValueError(f"video_fps={video_fps} must be >= 0")


def frame_step(video_fps, sampling_rate, target_fps=30):
    """Distance in source frames between two clip frames.

    ``sampling_rate * video_fps / target_fps``; with ``target_fps=None`` or an
    unknown video fps (0 or None) it is ``sampling_rate`` (no resampling).
    """
    if not target_fps or not video_fps:
        return float(sampling_rate)
    return sampling_rate * float(video_fps) / float(target_fps)


def last_start(num_video_frames, video_fps, num_frames, sampling_rate, target_fps=30):
    """The largest start frame whose clip fits in the video (0 if none fits)."""
    _check_clip_args(num_video_frames, video_fps, num_frames, sampling_rate, target_fps)
    step = frame_step(video_fps, sampling_rate, target_fps)
    span = math.floor((num_frames - 1) * step) + 1
    return max(num_video_frames - span, 0)


def clip_indices(num_video_frames, start, num_frames, step):
    """``floor(start + k * step)`` for k < num_frames, clamped to the video.

    Indices past the last frame become the last frame (short videos repeat
    their last frame).
    """
    offsets = np.floor(start + np.arange(num_frames) * step + 1e-6).astype(np.int64)
    return np.clip(offsets, 0, num_video_frames - 1)


def random_clip_indices(
    num_video_frames, video_fps, num_frames, sampling_rate, target_fps=30, *, rng
):
    """Frame indices of one training clip at a uniformly random start.

    Args:
        num_video_frames: int. Frames in the video.
        video_fps: float. The video's frame rate (0 or None: unknown).
        num_frames: int. Frames in the clip.
        sampling_rate: int. Clip stride in frames at ``target_fps``.
        target_fps: float or None. Frame rate the video is resampled to.
        rng: ``numpy.random.Generator``. Source of the start (explicit, for
            reproducible pipelines).

    Returns:
        int64 array ``(num_frames,)`` of frame indices.
    """
    limit = last_start(
        num_video_frames, video_fps, num_frames, sampling_rate, target_fps
    )
    start = int(rng.integers(0, limit + 1))
    step = frame_step(video_fps, sampling_rate, target_fps)
    return clip_indices(num_video_frames, start, num_frames, step)


def uniform_clip_indices(
    num_video_frames,
    video_fps,
    num_frames,
    sampling_rate,
    target_fps=30,
    *,
    clip_index,
    num_clips,
):
    """Frame indices of evaluation clip ``clip_index`` of ``num_clips``.

    Starts are ``last_start * clip_index / (num_clips - 1)`` rounded half up:
    the first clip starts at frame 0, the last ends at the video's end; a
    single clip is centered.

    Returns:
        int64 array ``(num_frames,)`` of frame indices.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips={num_clips} must be >= 1")
    if not 0 <= clip_index < num_clips:
        raise ValueError(f"clip_index={clip_index} must be in [0, {num_clips})")
    limit = last_start(
        num_video_frames, video_fps, num_frames, sampling_rate, target_fps
    )
    position = limit / 2 if num_clips == 1 else limit * clip_index / (num_clips - 1)
    start = int(math.floor(position + 0.5))  # round half up
    step = frame_step(video_fps, sampling_rate, target_fps)
    return clip_indices(num_video_frames, start, num_frames, step)
