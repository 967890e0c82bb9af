"""The fused training batch norm computes what Keras's BatchNormalization does."""

import keras
import numpy as np
import pytest

from keras_slowfast.layers import ConvBN3D
from keras_slowfast.layers.batch_norm import batch_norm_in_training


def _layer(channels, dtype="float32", rank=5, **kwargs):
    bn = keras.layers.BatchNormalization(
        epsilon=1e-5, momentum=0.9, dtype=dtype, **kwargs
    )
    bn.build((None,) * (rank - 1) + (channels,))
    rng = np.random.default_rng(4)
    bn.set_weights(
        [
            rng.uniform(0.5, 1.5, size=channels),  # gamma
            rng.normal(size=channels),  # beta
            rng.normal(size=channels),  # moving mean
            rng.uniform(0.5, 1.5, size=channels),  # moving variance
        ]
    )
    return bn


def _step(normalize, bn, x, upstream):
    """Output, gradients (input, gamma, beta) and moving statistics after."""
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = normalize(bn, x)
    grads = tape.gradient(y, [x, bn.gamma, bn.beta], output_gradients=upstream)
    return [y, *grads, bn.moving_mean, bn.moving_variance]


@pytest.mark.parametrize(
    "shape",
    [
        (2, 4, 6, 5, 8),  # (batch, frames, height, width, channels)
        (1, 1, 1, 3, 3),  # three values per channel
        (3, 7, 5, 4),  # 4D
    ],
)
def test_matches_keras_batch_norm(shape):
    rng = np.random.default_rng(5)
    x = rng.normal(2.0, 3.0, size=shape).astype("float32")
    upstream = rng.normal(size=shape).astype("float32")
    channels, rank = shape[-1], len(shape)
    ours = _step(batch_norm_in_training, _layer(channels, rank=rank), x, upstream)
    keras_bn = _step(
        lambda bn, x: bn(x, training=True), _layer(channels, rank=rank), x, upstream
    )
    names = ("output", "d input", "d gamma", "d beta", "moving mean", "moving var")
    for name, got, expected in zip(names, ours, keras_bn, strict=True):
        got, expected = np.asarray(got), np.asarray(expected)
        assert np.abs(expected).max() > 0.1, name
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=2e-5, err_msg=name)


def test_runs_the_fused_kernel():
    """On TensorFlow the op is FusedBatchNormV3, forward and backward."""
    import tensorflow as tf

    bn = _layer(4)
    x = tf.constant(np.ones((1, 2, 3, 3, 4), "float32"))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = batch_norm_in_training(bn, x)
        return tape.gradient(y, x)

    graph = step.get_concrete_function(x).graph
    op_types = {op.type for op in graph.get_operations()}
    assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= op_types, op_types


def test_mixed_precision_computes_in_float32():
    """bfloat16 activations are normalized in float32 and returned in bfloat16."""
    rng = np.random.default_rng(6)
    x = rng.normal(1.0, 2.0, size=(2, 3, 4, 4, 6)).astype("float32")
    half = keras.ops.cast(x, "bfloat16")
    got = batch_norm_in_training(_layer(6, dtype="mixed_bfloat16"), half)
    expected = _layer(6, dtype="mixed_bfloat16")(half, training=True)
    assert got.dtype == expected.dtype == "bfloat16"
    np.testing.assert_allclose(
        np.asarray(keras.ops.cast(got, "float32")),
        np.asarray(keras.ops.cast(expected, "float32")),
        atol=2e-2,
    )


@pytest.mark.parametrize(
    "setup",
    ["frozen", "float64", "synchronized"],
)
def test_uncovered_layers_run_keras_batch_norm(setup):
    """Frozen layers normalize with their moving statistics; float64 stays so."""
    dtype = "float64" if setup == "float64" else "float32"
    kwargs = {"synchronized": True} if setup == "synchronized" else {}
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 4, 4, 5)).astype(dtype)
    ours, theirs = _layer(5, dtype, **kwargs), _layer(5, dtype, **kwargs)
    if setup == "frozen":
        ours.trainable = theirs.trainable = False
    got = batch_norm_in_training(ours, x)
    expected = theirs(x, training=True)
    assert got.dtype == expected.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    np.testing.assert_array_equal(
        np.asarray(ours.moving_mean), np.asarray(theirs.moving_mean)
    )


def test_conv_unit_trains_through_the_fused_kernel():
    """ConvBN3D in training: same output, gradients and statistics as Keras BN."""
    import tensorflow as tf

    rng = np.random.default_rng(8)
    x = tf.constant(rng.normal(size=(2, 4, 8, 8, 6)).astype("float32"))
    units = [ConvBN3D(8, (3, 3, 3), name=f"unit{i}") for i in range(2)]
    for unit in units:
        unit.build(x.shape)
    units[1].set_weights(units[0].get_weights())
    results = []
    for unit, fused in zip(units, (True, False), strict=True):
        with tf.GradientTape() as tape:
            if fused:
                y = unit(x, training=True)
            else:
                conv = unit._convolve(x, unit.conv.kernel)
                y = keras.ops.relu(unit.bn(conv, training=True))
        grads = tape.gradient(y, unit.trainable_variables)
        results.append([y, *grads, unit.bn.moving_mean, unit.bn.moving_variance])
    for got, expected in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-4)
