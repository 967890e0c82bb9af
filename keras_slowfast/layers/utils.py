"""Small helpers shared by the layers: argument checks, shapes, initializers."""

import numbers

import keras

PACKAGE = "keras_slowfast"


def register(cls):
    """Registers a class for Keras serialization under the package name."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


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
