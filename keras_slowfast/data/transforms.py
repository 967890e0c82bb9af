"""Spatial transforms of decoded clips ``(frames, height, width, 3)`` uint8.

Small pure functions in NumPy/OpenCV (they run inside the ``tf.data`` decode
step, where OpenCV releases the GIL): short-side scaling, random and uniform
crops and horizontal flip. Clips stay uint8 RGB; the model's
``VideoPreprocessor`` normalizes them afterwards, in the pipeline's graph.
Random choices come from an explicit ``numpy.random.Generator``.
"""

import math

import cv2
import numpy as np


def _check_clip(frames):
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frames must have shape (frames, height, width, 3), got {frames.shape}"
        )


def short_side_size(height, width, size):
    """(new_height, new_width) with the short side ``size``, aspect kept.

    The long side is ``floor(long / short * size)`` (PySlowFast/PyTorchVideo).
    """
    if size < 1:
        raise ValueError(f"size={size} must be >= 1")
    if width <= height:
        return int(math.floor(height / width * size)), int(size)
    return int(size), int(math.floor(width / height * size))


def short_side_scale(frames, size):
    """Resizes every frame (bilinear) so its short side is ``size``."""
    _check_clip(frames)
    height, width = frames.shape[1:3]
    new_height, new_width = short_side_size(height, width, size)
    if (new_height, new_width) == (height, width):
        return frames
    out = np.empty((frames.shape[0], new_height, new_width, 3), frames.dtype)
    for i, frame in enumerate(frames):
        cv2.resize(
            frame, (new_width, new_height), out[i], interpolation=cv2.INTER_LINEAR
        )
    return out


def random_short_side_scale(frames, min_size, max_size, rng):
    """Scales the short side to a size drawn uniformly from [min_size, max_size]."""
    if min_size > max_size:
        raise ValueError(f"min_size={min_size} must be <= max_size={max_size}")
    return short_side_scale(frames, int(rng.integers(min_size, max_size + 1)))


def crop(frames, top, left, size):
    """The ``size x size`` window at (top, left) of every frame."""
    _check_clip(frames)
    height, width = frames.shape[1:3]
    if not (0 <= top <= height - size and 0 <= left <= width - size):
        raise ValueError(
            f"crop of size {size} at (top={top}, left={left}) does not fit "
            f"frames of {height}x{width}"
        )
    return frames[:, top : top + size, left : left + size]


def random_crop(frames, size, rng):
    """A ``size x size`` crop at a uniformly random position."""
    _check_clip(frames)
    height, width = frames.shape[1:3]
    if size > min(height, width):
        raise ValueError(f"crop size={size} exceeds frames of {height}x{width}")
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return crop(frames, top, left, size)


def uniform_crop_offsets(height, width, size, spatial_index):
    """(top, left) of crop ``spatial_index`` in {0, 1, 2} along the long side.

    0/1/2 = left/center/right for landscape frames, top/center/bottom for
    portrait ones; the short side is centered. Centers round up, as PySlowFast
    ``uniform_crop`` does.
    """
    if spatial_index not in (0, 1, 2):
        raise ValueError(f"spatial_index={spatial_index} must be 0, 1 or 2")
    if size > min(height, width):
        raise ValueError(f"crop size={size} exceeds frames of {height}x{width}")
    top = int(math.ceil((height - size) / 2))
    left = int(math.ceil((width - size) / 2))
    if height > width:
        top = {0: 0, 1: top, 2: height - size}[spatial_index]
    else:
        left = {0: 0, 1: left, 2: width - size}[spatial_index]
    return top, left


def uniform_crop(frames, size, spatial_index):
    """Crop ``spatial_index`` of the 3 evaluation crops (see uniform_crop_offsets)."""
    _check_clip(frames)
    top, left = uniform_crop_offsets(*frames.shape[1:3], size, spatial_index)
    return crop(frames, top, left, size)


def horizontal_flip(frames):
    """Mirrors every frame left-right."""
    _check_clip(frames)
    return frames[:, :, ::-1]


def train_transform(frames, *, short_side_range, crop_size, flip, rng):
    """Training augmentation: short-side jitter, random crop, random flip."""
    frames = random_short_side_scale(frames, *short_side_range, rng)
    frames = random_crop(frames, crop_size, rng)
    if flip and rng.random() < 0.5:
        frames = horizontal_flip(frames)
    return frames


def eval_transform(frames, *, short_side, crop_size, num_crops):
    """Evaluation views: short side ``short_side``, then 1 (center) or 3 crops.

    Returns:
        array ``(num_crops, frames, crop_size, crop_size, 3)``.
    """
    if num_crops not in (1, 3):
        raise ValueError(f"num_crops={num_crops} must be 1 or 3")
    frames = short_side_scale(frames, short_side)
    indices = (1,) if num_crops == 1 else (0, 1, 2)
    return np.stack([uniform_crop(frames, crop_size, i) for i in indices])
