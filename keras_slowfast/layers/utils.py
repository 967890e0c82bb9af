"""Small helpers shared by the layers: argument checks, shapes, initializers."""

import functools
import numbers
import os

import keras
from keras import ops

PACKAGE = "keras_slowfast"


def tensorflow_or_none():
    """The ``tensorflow`` module when Keras runs on it, else None.

    Imported lazily: the layers run on every Keras backend and use TensorFlow
    only for fast paths of ops that ``keras.ops`` cannot express.
    """
    if keras.config.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


def register(cls):
    """Registers a class for Keras serialization under the package name."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


MODEL_KEYWORDS = ("name", "trainable", "dtype")


def check_model_keywords(kwargs, owner):
    """Raises a TypeError for keyword arguments a model would silently ignore.

    A functional ``keras.Model`` accepts and drops unknown keywords, so a
    misspelled argument (``head_activaton=``) would build the wrong model.
    """
    unknown = sorted(set(kwargs) - set(MODEL_KEYWORDS))
    if unknown:
        raise TypeError(
            f"{owner} got unexpected keyword arguments {unknown}; besides its own "
            f"arguments it takes {list(MODEL_KEYWORDS)}"
        )


def as_triple(value, name):
    """Returns ``value`` as a tuple of three positive ints (time, height, width).

    Raises:
        ValueError: naming ``name`` when the value is neither an int nor three
            ints, or when an entry is not positive.
    """
    if _is_int(value):
        value = (value, value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 3
        or not all(_is_int(v) for v in value)
        or any(v < 1 for v in value)
    ):
        raise ValueError(f"{name}={value!r} must be a positive int or 3 positive ints")
    return tuple(int(v) for v in value)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def conv_output_length(length, kernel, stride, padding, dilation=1):
    """Output length of a convolution or pooling with symmetric ``padding``."""
    if length is None:
        return None
    return (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def he_normal_fan_out():
    """He (MSRA) normal initializer on fan-out, as PySlowFast's ``c2_msra_fill``."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def check_choice(value, choices, name):
    """Raises a ValueError naming ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{name}={value!r} is not supported; expected one of {choices}"
        )
    return value


def padded_max_pool_2d(inputs, pool_size, strides, padding):
    """2D max pooling of ``(n, h, w, c)`` with ``padding`` on both sides.

    The padding is ``-inf``, as PyTorch's: it never wins the max
    (``padding`` must be smaller than ``pool_size``). TensorFlow's own
    explicit pooling padding would save the padded copy, but TFLite has no
    builtin kernel for it.

    Args:
        inputs: ``(n, height, width, channels)``.
        pool_size: int. Window size.
        strides: int. Window stride.
        padding: int. Positions added on every side.
    """
    pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    padded = ops.pad(inputs, pads, constant_values=float("-inf"))
    return ops.max_pool(padded, pool_size, strides=strides, padding="valid")


def max_pool_3d(inputs, pool_size, strides):
    """``"valid"`` 3D max pooling, computed as 2D max poolings.

    A max over a ``(t, h, w)`` window is the max over ``t`` frames of the max
    over each frame's ``(h, w)`` window, so the spatial pooling runs over the
    frames as images and the temporal one over ``(time, pixels)`` images.
    TensorFlow's Eigen ``MaxPool3D`` (its CPU default without AVX512-VNNI) is
    3-8x slower than its 2D pooling on the stems' maps, and TFLite has no 3D
    pooling builtin; the result is the same.

    Args:
        inputs: ``(batch, frames, height, width, channels)``.
        pool_size: 3 ints ``(t, h, w)``.
        strides: 3 ints ``(t, h, w)``.

    Returns:
        The pooled ``(batch, frames', height', width', channels)`` tensor.
    """
    (pt, ph, pw), (st, sh, sw) = pool_size, strides
    x = inputs
    channels = x.shape[-1]
    if (ph, pw, sh, sw) != (1, 1, 1, 1):
        _, frames, height, width, _ = ops.shape(x)
        x = ops.reshape(x, (-1, height, width, channels))
        x = ops.max_pool(x, (ph, pw), strides=(sh, sw), padding="valid")
        _, height, width, _ = ops.shape(x)
        x = ops.reshape(x, (-1, frames, height, width, channels))
    if (pt, st) != (1, 1):
        _, frames, height, width, _ = ops.shape(x)
        x = ops.reshape(x, (-1, frames, height * width, channels))
        x = ops.max_pool(x, (pt, 1), strides=(st, 1), padding="valid")
        x = ops.reshape(x, (-1, ops.shape(x)[1], height, width, channels))
    return x


@functools.cache
def tensorflow_runs_eigen():
    """Whether TensorFlow computes on the CPU with its Eigen kernels here.

    False with a GPU visible to TensorFlow, where TensorFlow runs oneDNN's
    CPU kernels, or without TensorFlow. TensorFlow turns oneDNN on by
    default on x86 Linux only on CPUs with AVX512-VNNI, AVX512-BF16, AVX-VNNI
    or AMX (and on aarch64 Linux), or where ``TF_ENABLE_ONEDNN_OPTS=1``
    (tensorflow/core/util/util.cc, ``IsMKLEnabled``); elsewhere, AVX2-only
    CPUs among them, it runs its Eigen kernels.
    """
    tf = tensorflow_or_none()
    if tf is None or tf.config.list_logical_devices("GPU"):
        return False
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - a TensorFlow without the binding
        # Only the explicit setting is known then, not TensorFlow's default.
        setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
        return setting.lower() not in ("1", "true")
    return not _pywrap_util_port.IsMklEnabled()


def computed_after(tensor, value):
    """``value``, computed only once ``tensor`` is (in TensorFlow graphs).

    TensorFlow's graph executor runs an op as soon as its inputs are ready,
    so what depends on weights alone (a unit's folded, transformed kernel)
    runs at the start of a call and stays in memory until its consumer
    runs. Tied to the unit's input, it is computed shortly before it is
    used. Elsewhere (eagerly, other backends) ``value`` is returned as is.
    """
    tf = tensorflow_or_none()
    if tf is None or tf.executing_eagerly():
        return value
    with tf.control_dependencies([tensor]):
        return tf.identity(value)
