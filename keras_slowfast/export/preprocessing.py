"""In-graph test-time preprocessing of raw frames, shared by export and predict.

Raw uint8 RGB frames ``(batch, frames, H, W, 3)`` of any size are resized so
their short side has a given length, cropped to a square (center, or the two
ends of the long side for 3-crop testing) and normalized by the model's
``input_convention``. Everything is TensorFlow ops, so the same function runs
inside an exported SavedModel and in ``predict_video``: serving and local
prediction see identical pixels.
"""

import tensorflow as tf

from keras_slowfast.models.slowfast import DEFAULT_INPUT_CONVENTION


def check_sizes(short_side, crop_size):
    """Validates ``short_side`` and ``crop_size`` (ints or None) together.

    Returns:
        ``(short_side, crop_size)`` as ints or None.

    Raises:
        ValueError: a size is not positive, or the crop does not fit.
    """
    short_side = None if short_side is None else int(short_side)
    crop_size = None if crop_size is None else int(crop_size)
    for name, value in (("short_side", short_side), ("crop_size", crop_size)):
        if value is not None and value < 1:
            raise ValueError(f"{name}={value} must be a positive number of pixels")
    if short_side is not None and crop_size is not None and crop_size > short_side:
        raise ValueError(
            f"crop_size={crop_size} must be <= short_side={short_side}: the crop "
            "is taken from the resized frames"
        )
    return short_side, crop_size


def resized_shape(height, width, short_side):
    """The ``(height, width)`` after scaling the short side to ``short_side``.

    The long side is ``floor(long * short_side / short)`` as in PySlowFast's
    ``random_short_side_scale_jitter``. Works on Python ints and on tensors.
    """
    if isinstance(height, int) and isinstance(width, int):
        if height <= width:
            return short_side, int(width * short_side // height)
        return int(height * short_side // width), short_side
    # int32 arithmetic: TFLite's builtin FLOOR_DIV has no int64 kernel, and
    # side * short_side stays below 2**31 for sides under 2**31 / short_side
    # pixels (8 million at 256).
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    short = tf.minimum(height, width)
    short_side = tf.constant(short_side, tf.int32)
    new_height = tf.where(height <= width, short_side, height * short_side // short)
    new_width = tf.where(height <= width, width * short_side // short, short_side)
    return new_height, new_width


def crop_offsets(height, width, crop_size, position=0.5):
    """Top-left corner of a square crop: ``position`` 0, 0.5, 1 along each axis.

    With ``position=0.5`` this is the center crop (offset ``ceil((size - crop)
    / 2)``, as PySlowFast ``uniform_crop``); 0 and 1 give the two ends, used by
    3-crop testing along the long side.
    """
    height = tf.cast(height, tf.float32)
    width = tf.cast(width, tf.float32)
    top = tf.math.ceil((height - crop_size) * position)
    left = tf.math.ceil((width - crop_size) * position)
    return tf.cast(top, tf.int32), tf.cast(left, tf.int32)


def normalize(video, input_convention=None):
    """uint8 (or 0..255 float) RGB -> ``(x / 255 - mean) / std`` in the model's order.

    ``mean`` and ``std`` are listed in the model's channel order; with
    ``channel_order="bgr"`` the RGB channels are reversed first.
    """
    convention = {**DEFAULT_INPUT_CONVENTION, **(input_convention or {})}
    x = tf.cast(video, tf.float32) / 255.0
    if convention["channel_order"] == "bgr":
        x = x[..., ::-1]
    elif convention["channel_order"] != "rgb":
        raise ValueError(
            f"channel_order={convention['channel_order']!r} must be 'rgb' or 'bgr'"
        )
    mean = tf.constant(convention["mean"], tf.float32)
    std = tf.constant(convention["std"], tf.float32)
    return (x - mean) / std


def preprocess_video(
    video,
    *,
    short_side=256,
    crop_size=224,
    input_convention=None,
    crop_position=0.5,
):
    """Resizes, crops and normalizes raw RGB frames for a SlowFast model.

    Args:
        video: uint8 tensor ``(batch, frames, height, width, 3)``, RGB, any
            height and width (or ``(frames, height, width, 3)``).
        short_side: int or None. Length of the short side after a bilinear
            resize (no antialiasing, as PySlowFast test-time scaling); None
            keeps the frames' size.
        crop_size: int or None. Side of the square crop; None skips cropping.
        input_convention: dict with ``mean``, ``std``, ``channel_order`` (the
            model's ``input_convention``).
        crop_position: float in [0, 1]. Where the crop sits: 0.5 is the center
            crop, 0 and 1 the two ends of each axis.

    Returns:
        float32 tensor ``(batch, frames, crop_size, crop_size, 3)``, normalized.
    """
    short_side, crop_size = check_sizes(short_side, crop_size)
    video = tf.convert_to_tensor(video)
    unbatched = video.shape.rank == 4
    if unbatched:
        video = video[None]
    if video.shape.rank != 5:
        raise ValueError(
            "video must be (batch, frames, height, width, 3), "
            f"got shape {tuple(video.shape)}"
        )
    shape = tf.shape(video)
    batch, frames, height, width = shape[0], shape[1], shape[2], shape[3]
    x = tf.reshape(tf.cast(video, tf.float32), [-1, height, width, 3])
    if short_side is not None:
        height, width = resized_shape(height, width, short_side)
        x = tf.image.resize(x, tf.stack([height, width]), method="bilinear")
    if crop_size is not None:
        tf.debugging.assert_greater_equal(
            tf.minimum(height, width),
            crop_size,
            message=f"frames are smaller than crop_size={crop_size}",
        )
        top, left = crop_offsets(height, width, crop_size, crop_position)
        # A slice with a constant size has a static shape, so no EnsureShape
        # op (not a TFLite builtin) is needed.
        x = tf.slice(x, tf.stack([0, top, left, 0]), [-1, crop_size, crop_size, 3])
        height = width = crop_size
    x = tf.reshape(x, tf.stack([batch, frames, height, width, 3]))
    x = normalize(x, input_convention)
    return x[0] if unbatched else x
