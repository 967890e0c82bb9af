"""Spatial transforms of decoded clips ``(frames, height, width, 3)`` uint8.

Small pure functions in NumPy/OpenCV (they run inside the ``tf.data`` decode
step, where OpenCV releases the GIL): short-side scaling, random and uniform
crops, horizontal flip, and normalization to the model's input convention.
Random choices come from an explicit ``numpy.random.Generator``.
"""

import math

import cv2
import numpy as np

DEFAULT_INPUT_CONVENTION = {
    "mean": [0.45, 0.45, 0.45],
    "std": [0.225, 0.225, 0.225],
    "channel_order": "rgb",
}


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


def check_input_convention(convention):
    """Completes and checks a model ``input_convention`` dict.

    Returns:
        dict with ``mean`` and ``std`` (3 floats each, for channels in [0, 1], in
        the model's channel order) and ``channel_order`` ("rgb" or "bgr").
    """
    convention = {**DEFAULT_INPUT_CONVENTION, **(convention or {})}
    for key in ("mean", "std"):
        values = np.broadcast_to(np.asarray(convention[key], "float64"), (3,))
        convention[key] = [float(v) for v in values]
    if min(convention["std"]) <= 0:
        raise ValueError(f"input_convention['std']={convention['std']} must be > 0")
    if convention["channel_order"] not in ("rgb", "bgr"):
        raise ValueError(
            f"input_convention['channel_order']={convention['channel_order']!r} "
            "must be 'rgb' or 'bgr'"
        )
    return convention


def input_convention_of(model):
    """A model's ``input_convention`` (the default 0.45/0.225 RGB if it has none)."""
    return check_input_convention(getattr(model, "input_convention", None))


def normalize(frames, convention=None):
    """uint8 RGB frames -> float32 ``((x / 255)[order] - mean) / std``.

    Args:
        frames: uint8 array ``(..., 3)`` in RGB order.
        convention: dict like ``model.input_convention``; None for the default.
    """
    convention = check_input_convention(convention)
    clip = frames.astype(np.float32) * np.float32(1 / 255)
    if convention["channel_order"] == "bgr":
        clip = clip[..., ::-1]
    mean = np.asarray(convention["mean"], np.float32)
    inv_std = 1 / np.asarray(convention["std"], np.float32)
    clip -= mean
    clip *= inv_std
    return clip


def denormalize(clip, convention=None):
    """The inverse of :func:`normalize`: normalized clip -> uint8 RGB frames.

    For pictures of what a model saw (heat maps, TensorBoard images).
    """
    convention = check_input_convention(convention)
    mean = np.asarray(convention["mean"], np.float32)
    std = np.asarray(convention["std"], np.float32)
    frames = np.asarray(clip, np.float32) * std + mean
    if convention["channel_order"] == "bgr":
        frames = frames[..., ::-1]
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


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
