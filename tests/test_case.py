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

    for policy in PRECISION_POLICIES:
        mixed = layer_cls(**{**init_kwargs, "dtype": policy})
        mixed_output = (
            mixed(input_data, training=False)
            if _takes_training(mixed)
            else mixed(input_data)
        )
        assert _shapes(mixed_output) == _shapes(output)
        assert_policy_everywhere(mixed, policy)
    return output


PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")


def assert_policy_everywhere(obj, policy):
    """Asserts every sublayer of ``obj`` runs under ``policy``, weights float32.

    The global policy must be untouched: ``dtype=`` is an argument, not a
    process-wide switch. A task's ``VideoPreprocessor`` is exempt: it prepares
    float32 input outside the network.
    """
    from keras_slowfast.models import VideoPreprocessor

    assert keras.config.dtype_policy().name == "float32"
    layers = [
        layer
        for layer in obj._flatten_layers(include_self=True)
        if not isinstance(
            layer, (keras.layers.InputLayer, keras.Model, VideoPreprocessor)
        )
    ]
    wrong = [
        f"{layer.name}: {layer.dtype_policy.name}"
        for layer in layers
        if layer.dtype_policy.name != policy
    ]
    assert wrong == [], f"layers not under {policy}: {wrong}"
    assert all(v.dtype == "float32" for v in obj.weights if v.trainable)
    return layers


def run_backbone_test(
    cls, init_kwargs, input_data, expected_output_shapes, expected_weight_count=None
):
    """The shared checks of a backbone (keras-hub's ``run_backbone_test``).

    Output shapes, config round trip, ``.keras`` round trip with identical
    outputs, one training step that changes the weights, ``mixed_float16`` and
    ``mixed_bfloat16`` policies reaching every sublayer (by argument, config
    kept) and, when given, the number of weights as PyTorch counts them.
    """
    from keras_slowfast.models import count_params

    backbone = cls(**init_kwargs)
    outputs = backbone(input_data, training=False)
    assert _shapes(outputs) == [tuple(s) for s in expected_output_shapes]
    run_serialization_test(backbone)
    run_model_saving_test(backbone, input_data)
    if expected_weight_count is not None:
        assert count_params(backbone) == expected_weight_count
    _check_training_step(
        backbone,
        input_data,
        [np.zeros(tuple(s), "float32") for s in expected_output_shapes],
        keras.losses.MeanSquaredError(),
    )
    for policy in PRECISION_POLICIES:
        mixed = cls(**{**init_kwargs, "dtype": policy})
        assert_policy_everywhere(mixed, policy)
        assert cls.from_config(mixed.get_config()).get_config() == mixed.get_config()
        assert_policy_everywhere(cls.from_config(mixed.get_config()), policy)
        out = mixed(input_data, training=False)
        dtypes = {keras.backend.standardize_dtype(o.dtype) for o in _as_list(out)}
        assert dtypes == {policy.split("_")[1]}
    return backbone


def run_task_test(
    build, input_data, targets, loss, expected_output_shape, expected_weight_count=None
):
    """The shared checks of a task model (keras-hub's ``run_task_test``).

    Args:
        build: callable ``build(dtype=None) -> task``; called with a mixed
            policy to build the mixed-precision variants (backbone and head).
        input_data, targets: one batch.
        loss: Keras loss for the training step.
        expected_output_shape: tuple.
        expected_weight_count: int or None. Weights as PyTorch counts them.
    """
    from keras_slowfast.models import count_params

    task = build()
    output = task(input_data, training=False)
    assert tuple(output.shape) == tuple(expected_output_shape)
    run_serialization_test(task)
    restored = run_model_saving_test(task, input_data)
    assert type(restored.backbone) is type(task.backbone)
    assert restored.preprocessor.get_config() == task.preprocessor.get_config()
    if expected_weight_count is not None:
        assert count_params(task) == expected_weight_count
    _check_training_step(task, input_data, targets, loss)
    for policy in PRECISION_POLICIES:
        mixed = build(dtype=policy)
        assert_policy_everywhere(mixed, policy)
        revived = mixed.__class__.from_config(mixed.get_config())
        assert_policy_everywhere(revived, policy)
        assert tuple(mixed(input_data, training=False).shape) == tuple(
            expected_output_shape
        )
    return task


def _check_training_step(model, input_data, targets, loss):
    """One ``train_on_batch`` step runs, gives a finite loss, moves weights."""
    before = [np.array(w) for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    value = model.train_on_batch(input_data, targets)
    assert np.all(np.isfinite(value))
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


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
