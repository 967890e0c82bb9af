"""VideoPreprocessor: the one owner of a model's input convention.

A SlowFast model takes clips ``(batch, frames, height, width, 3)`` of RGB
frames scaled to [0, 1], put in the model's channel order and normalized per
channel, ``((rgb / 255)[channel_order] - mean) / std``; the mean and std are
listed in the model's channel order. PyTorchVideo's Kinetics models use RGB
with 0.45 / 0.225; a PySlowFast config gives its statistics and order
(``DATA.MEAN``, ``DATA.STD``, ``DATA.REVERSE_INPUT_CHANNEL`` for BGR, in
``slowfast/config/defaults.py``). Test-time views resize the short side and
take square crops, as PySlowFast's ``slowfast/datasets/transform.py``
(``random_short_side_scale_jitter`` at a fixed size, ``uniform_crop``).

Everything runs as TensorFlow ops, so one object serves the ``tf.data``
pipeline, the exported SavedModel / ONNX / TFLite graphs and Python
prediction; TensorFlow is imported inside the methods, keeping ``models/``
importable on any backend.
"""

import numbers

import keras

from keras_slowfast.layers.utils import check_choice, register

CHANNEL_ORDERS = ("rgb", "bgr")
# PyTorchVideo / PySlowFast Kinetics statistics, RGB in [0, 1].
DEFAULT_MEAN = (0.45, 0.45, 0.45)
DEFAULT_STD = (0.225, 0.225, 0.225)
CONVENTION_KEYS = ("mean", "std", "channel_order")


def _three_numbers(value, name):
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        values = []
    if len(values) != 3 or isinstance(value, str):
        raise ValueError(
            f"{name}={value!r} must be 3 numbers, one per channel in channel_order"
        )
    return tuple(values)


def _size(value, name, unit="pixels"):
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive number of {unit}")
    return int(value)


@register
class VideoPreprocessor(keras.layers.Layer):
    """Raw RGB frames -> model input: short-side resize, square crop, normalize.

    Calling the layer on uint8 frames ``(batch, frames, height, width, 3)``
    (or one clip ``(frames, height, width, 3)``) of any size resizes every
    frame bilinearly (no antialiasing) so its short side is ``short_side``,
    takes the ``crop_size`` square at ``crop_position`` and normalizes:
    ``((x / 255)[channel_order] - mean) / std``. The channels are reversed
    first (for ``"bgr"``), then normalized with ``mean`` and ``std`` as listed,
    i.e. in the model's channel order. The layer has no weights; its
    constructor arguments are its whole config, so it is saved with a model
    that holds it.

    Args:
        mean: 3 floats. Per-channel mean of frames in [0, 1], in
            ``channel_order``.
        std: 3 positive floats. Per-channel standard deviation, in
            ``channel_order``.
        channel_order: ``"rgb"`` or ``"bgr"``. Channel order the model takes;
            frames always come in as RGB.
        short_side: int or None. Short side after resizing; None keeps the
            frames' size.
        crop_size: int or None. Side of the square crop; None skips cropping.
            At most ``short_side``.
        sampling_rate: int or None. The frame step of the model's clips, in
            frames of the video resampled to 30 fps (PySlowFast
            ``DATA.SAMPLING_RATE``); recorded for prediction, which reads
            clips the way the model was trained. None: not recorded.
        **kwargs: Layer arguments (``name``...).

    Examples:
    >>> preprocessor = VideoPreprocessor(short_side=256, crop_size=224)
    >>> frames = np.zeros((1, 8, 240, 320, 3), "uint8")
    >>> tuple(preprocessor(frames).shape)
    (1, 8, 224, 224, 3)
    """

    def __init__(
        self,
        mean=DEFAULT_MEAN,
        std=DEFAULT_STD,
        channel_order="rgb",
        short_side=None,
        crop_size=None,
        sampling_rate=None,
        **kwargs,
    ):
        # The output is float32 whatever the global policy; the model casts it.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean = _three_numbers(mean, "mean")
        self.std = _three_numbers(std, "std")
        if min(self.std) <= 0:
            raise ValueError(f"std={list(self.std)} must be > 0 for every channel")
        self.channel_order = check_choice(
            channel_order, CHANNEL_ORDERS, "channel_order"
        )
        self.short_side = _size(short_side, "short_side")
        self.crop_size = _size(crop_size, "crop_size")
        self.sampling_rate = _size(sampling_rate, "sampling_rate", "frames")
        if self.short_side is not None and self.crop_size is not None:
            if self.crop_size > self.short_side:
                raise ValueError(
                    f"crop_size={self.crop_size} must be <= short_side="
                    f"{self.short_side}: the crop is taken from the resized frames"
                )
        self.built = True

    @classmethod
    def from_convention(cls, convention=None, **kwargs):
        """A preprocessor for an ``input_convention`` dict.

        Args:
            convention: dict with any of ``mean``, ``std``, ``channel_order``
                (missing keys take the defaults), or None for the default
                0.45 / 0.225 RGB convention.
            **kwargs: other constructor arguments (``short_side``,
                ``crop_size``...).

        Raises:
            ValueError: ``convention`` has other keys or bad values.
        """
        convention = dict(convention or {})
        unknown = sorted(set(convention) - set(CONVENTION_KEYS))
        if unknown:
            raise ValueError(
                f"input_convention has unknown keys {unknown}; expected "
                f"{list(CONVENTION_KEYS)}"
            )
        return cls(**convention, **kwargs)

    @property
    def input_convention(self):
        """dict ``{"mean", "std", "channel_order"}`` (lists of floats, str)."""
        return {
            "mean": list(self.mean),
            "std": list(self.std),
            "channel_order": self.channel_order,
        }

    def normalize(self, frames):
        """RGB frames ``(..., 3)`` -> float32 model input of the same shape.

        Args:
            frames: uint8 (any integer type: 0..255) or float frames in [0, 1],
                RGB.
        """
        import tensorflow as tf

        frames = tf.convert_to_tensor(frames)
        self._check_channels(frames)
        x = tf.cast(frames, tf.float32)
        if frames.dtype.is_integer:
            x = x / 255.0
        return self._standardize(x)

    def _standardize(self, x):
        """Float32 RGB in [0, 1] -> channel order, then ``(x - mean) / std``."""
        import tensorflow as tf

        if self.channel_order == "bgr":
            x = x[..., ::-1]
        return (x - tf.constant(self.mean, tf.float32)) / tf.constant(
            self.std, tf.float32
        )

    def denormalize(self, clip):
        """The inverse of :meth:`normalize`: model input -> uint8 RGB frames.

        For pictures of what a model saw (heat maps, TensorBoard images).
        """
        import tensorflow as tf

        x = tf.cast(tf.convert_to_tensor(clip), tf.float32)
        self._check_channels(x)
        x = x * tf.constant(self.std, tf.float32) + tf.constant(self.mean, tf.float32)
        if self.channel_order == "bgr":
            x = x[..., ::-1]
        return tf.cast(tf.clip_by_value(tf.round(x * 255.0), 0.0, 255.0), tf.uint8)

    def resized_shape(self, height, width):
        """``(height, width)`` after scaling the short side to ``short_side``.

        The long side becomes ``floor(long * short_side / short)``. Works on
        Python ints and on integer tensors; without ``short_side`` the size
        is kept.
        """
        if self.short_side is None:
            return height, width
        short_side = self.short_side
        if isinstance(height, numbers.Integral) and isinstance(width, numbers.Integral):
            if height <= width:
                return short_side, int(width * short_side // height)
            return int(height * short_side // width), short_side
        import tensorflow as tf

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

    def crop_offsets(self, height, width, position=0.5):
        """Top-left corner ``(top, left)`` of the crop in ``height x width`` frames.

        ``position`` 0.5 is the center crop (offset ``ceil((size - crop) /
        2)``, as ``uniform_crop``); 0 and 1 are the two ends of each axis,
        used by 3-crop testing along the long side. Returns int32 tensors.
        """
        import tensorflow as tf

        if self.crop_size is None:
            return tf.constant(0, tf.int32), tf.constant(0, tf.int32)
        height = tf.cast(height, tf.float32)
        width = tf.cast(width, tf.float32)
        top = tf.math.ceil((height - self.crop_size) * position)
        left = tf.math.ceil((width - self.crop_size) * position)
        return tf.cast(top, tf.int32), tf.cast(left, tf.int32)

    def resize(self, video):
        """Frames ``(..., height, width, 3)`` -> float32, short side ``short_side``.

        Values keep their scale (0..255 stays 0..255).
        """
        return self._per_image(video, self._resize_images)

    def crop(self, video, position=0.5):
        """The ``crop_size`` square of frames ``(..., height, width, 3)``.

        Args:
            video: frames of any dtype; returned as float32.
            position: float in [0, 1]. 0.5: center; 0 and 1: the two ends.
        """
        return self._per_image(video, lambda x: self._crop_images(x, position))

    def call(self, video, crop_position=0.5):
        """Raw frames -> model input (the ``serving_default`` preprocessing).

        Args:
            video: uint8 RGB frames ``(batch, frames, height, width, 3)`` or
                ``(frames, height, width, 3)``, any height and width (float
                frames are taken as [0, 1]).
            crop_position: float in [0, 1]. Where the crop sits: 0.5 is the
                center crop, 0 and 1 the two ends of each axis.

        Returns:
            float32 tensor ``(batch, frames, crop_size, crop_size, 3)`` (or
            without the batch axis), normalized.
        """
        import tensorflow as tf

        video = tf.convert_to_tensor(video)
        if video.shape.rank not in (4, 5):
            raise ValueError(
                "video must be (batch, frames, height, width, 3) or (frames, "
                f"height, width, 3), got shape {tuple(video.shape)}"
            )
        x = self._per_image(
            video, lambda x: self._crop_images(self._resize_images(x), crop_position)
        )
        if video.dtype.is_integer:
            x = x / 255.0
        return self._standardize(x)

    def _check_channels(self, x):
        if x.shape.rank is None or x.shape.rank < 1 or x.shape[-1] != 3:
            raise ValueError(
                f"frames must have 3 channels (..., 3), got shape {tuple(x.shape)}"
            )

    def _per_image(self, video, function):
        """Applies ``function`` to ``(-1, height, width, 3)`` float32 images."""
        import tensorflow as tf

        video = tf.convert_to_tensor(video)
        self._check_channels(video)
        if video.shape.rank < 3:
            raise ValueError(
                "frames must be (..., height, width, 3), got shape "
                f"{tuple(video.shape)}"
            )
        shape = tf.shape(video)
        images = tf.reshape(
            tf.cast(video, tf.float32), tf.concat([[-1], shape[-3:]], 0)
        )
        images = function(images)
        out = tf.reshape(images, tf.concat([shape[:-3], tf.shape(images)[1:]], 0))
        # Reshape drops static sizes; the crop's are known, and a static shape
        # avoids an EnsureShape op (not a TFLite builtin).
        out.set_shape(video.shape[:-3].concatenate(images.shape[1:]))
        return out

    def _resize_images(self, images):
        import tensorflow as tf

        if self.short_side is None:
            return images
        shape = tf.shape(images)
        height, width = self.resized_shape(shape[1], shape[2])
        return tf.image.resize(images, tf.stack([height, width]), method="bilinear")

    def _crop_images(self, images, position):
        import tensorflow as tf

        if self.crop_size is None:
            return images
        shape = tf.shape(images)
        height, width = shape[1], shape[2]
        tf.debugging.assert_greater_equal(
            tf.minimum(height, width),
            self.crop_size,
            message=f"frames are smaller than crop_size={self.crop_size}",
        )
        top, left = self.crop_offsets(height, width, position)
        size = self.crop_size
        # A slice with a constant size has a static shape.
        return tf.slice(images, tf.stack([0, top, left, 0]), [-1, size, size, 3])

    def compute_output_shape(self, input_shape):
        """``(..., height', width', 3)``: the crop, or the resized frames."""
        *lead, height, width, channels = input_shape
        if self.crop_size is not None:
            height = width = self.crop_size
        elif self.short_side is not None:
            if height is None or width is None:
                height = width = None
            else:
                height, width = self.resized_shape(height, width)
        return (*lead, height, width, channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mean": list(self.mean),
                "std": list(self.std),
                "channel_order": self.channel_order,
                "short_side": self.short_side,
                "crop_size": self.crop_size,
                "sampling_rate": self.sampling_rate,
            }
        )
        return config


def preprocessor_of(model):
    """The :class:`VideoPreprocessor` that feeds ``model``.

    The model's own ``preprocessor`` when it has one, else one built from its
    ``input_convention`` (the default 0.45 / 0.225 RGB convention if it has
    neither). Without resizing or cropping in the latter case.
    """
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None:
        return preprocessor
    return VideoPreprocessor.from_convention(getattr(model, "input_convention", None))
