"""Shared checks that every custom layer and model goes through.

A layer must: build and run, agree with its ``compute_output_shape``, rebuild
from ``get_config`` with the same config, carry its weights over to the
rebuilt copy with identical outputs, and survive a ``.keras`` save/load.
(Lessons from keras-cv bugs: a ``get_config`` that returned None, a config
that dropped an argument, a test that never ran.)
"""

import os
import tempfile

import keras
import numpy as np


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _shapes(value):
    return [tuple(v.shape) for v in _as_list(value)]


def assert_close(actual, expected, atol=1e-5):
    """Asserts two (nested lists of) tensors are equal to ``atol``."""
    for a, e in zip(_as_list(actual), _as_list(expected), strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(e), atol=atol
        )


def run_serialization_test(obj):
    """``get_config`` -> ``from_config`` gives an object with the same config."""
    config = obj.get_config()
    assert isinstance(config, dict), (
        f"{type(obj).__name__}.get_config returned {config!r}"
    )
    clone = obj.__class__.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(obj)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(obj)
    assert revived.get_config() == config
    return clone


def run_layer_test(layer_cls, init_kwargs, input_data, expected_output_shape=None):
    """Builds, runs, checks shapes, config and weight round trip of a layer.

    Returns the layer's output for further checks.
    """
    layer = layer_cls(**init_kwargs)
    output = (
        layer(input_data, training=False)
        if _takes_training(layer)
        else layer(input_data)
    )
    if expected_output_shape is not None:
        assert _shapes(output) == _as_list_of_shapes(expected_output_shape)
    input_shapes = (
        [tuple(x.shape) for x in input_data]
        if isinstance(input_data, (list, tuple))
        else tuple(input_data.shape)
    )
    assert _as_list_of_shapes(layer.compute_output_shape(input_shapes)) == _shapes(
        output
    )

    clone = run_serialization_test(layer)
    clone(input_data)
    clone.set_weights(layer.get_weights())
    clone_output = (
        clone(input_data, training=False)
        if _takes_training(clone)
        else clone(input_data)
    )
    assert_close(clone_output, output)

    # Symbolic call: the functional API must see the same shapes.
    symbolic_inputs = keras.tree.map_structure(
        lambda x: keras.KerasTensor(tuple(x.shape)), input_data
    )
    symbolic_out = layer_cls(**init_kwargs)(symbolic_inputs)
    assert _shapes(symbolic_out) == _shapes(output)
    return output


def _as_list_of_shapes(shapes):
    if isinstance(shapes, list) and shapes and isinstance(shapes[0], (list, tuple)):
        return [tuple(s) for s in shapes]
    return [tuple(shapes)]


def _takes_training(layer):
    import inspect

    return "training" in inspect.signature(layer.call).parameters


def run_model_saving_test(model, input_data, atol=1e-5):
    """Saves ``model`` as ``.keras``, reloads it, compares outputs and class."""
    expected = model(input_data, training=False)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    assert_close(restored(input_data, training=False), expected, atol=atol)
    return restored


def run_on_torch_backend(script):
    """Runs a Python ``script`` under ``KERAS_BACKEND=torch``; returns its stdout.

    A fresh interpreter, because the backend is fixed when Keras is imported;
    the repository root is on the path, so the script can import ``tests``.
    """
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": root},
        cwd=root,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
