"""Batch normalization in training as one fused kernel, where there is one.

Keras's ``BatchNormalization`` computes the batch moments, the normalization
and their gradients as separate element-wise passes over the activations.
TensorFlow's ``FusedBatchNormV3`` kernel does the forward pass in one kernel
and the backward pass in another. On a 2-core CPU it ran a training forward +
backward (with the ReLU that follows) of the SlowFast R50's batch norms
1.5-3x faster than Keras's ops, at AVX2 and at AVX-512
(benchmarks/bench_layers.py times them inside each unit's forward + backward).
"""

import keras
from keras import ops

from keras_slowfast.layers.utils import tensorflow_or_none


def _fusable(bn, inputs):
    """Whether ``FusedBatchNormV3`` computes exactly what ``bn`` would."""
    return (
        bn.trainable
        and bn.center
        and bn.scale
        and not bn.renorm
        and not bn.synchronized
        and bn.axis in (-1, len(inputs.shape) - 1)
        and len(inputs.shape) in (4, 5)
        # Keras computes float16/bfloat16 inputs in float32 (as here);
        # the kernel has no float64.
        and keras.backend.standardize_dtype(inputs.dtype)
        in ("float32", "float16", "bfloat16")
    )


def batch_norm_in_training(bn, inputs):
    """``bn(inputs, training=True)`` for a channels-last ``BatchNormalization``.

    On TensorFlow, as one ``FusedBatchNormV3`` kernel (module docstring), with
    Keras's semantics: the output is normalized by the batch mean and biased
    batch variance, and the moving statistics are updated with them and
    ``bn.momentum`` as ``bn`` would. Same result up to float rounding. Other
    backends, float64 inputs, and layers the kernel does not cover (frozen,
    renorm, synchronized across replicas) run ``bn`` itself.

    Args:
        bn: a built ``keras.layers.BatchNormalization`` over the last axis.
        inputs: ``(batch, [frames,] height, width, channels)``.

    Returns:
        The normalized inputs, in ``bn``'s compute dtype.
    """
    tf = tensorflow_or_none()
    if tf is None or not _fusable(bn, inputs):
        return bn(inputs, training=True)
    shape = ops.shape(inputs)
    channels = shape[-1]
    x = ops.reshape(ops.cast(inputs, "float32"), (-1, *shape[-3:]))
    # With is_training, the kernel takes empty population statistics and
    # returns the batch mean and the Bessel-corrected batch variance.
    empty = tf.zeros((0,), "float32")
    y, mean, corrected_variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=ops.cast(bn.gamma, "float32"),
        offset=ops.cast(bn.beta, "float32"),
        mean=empty,
        variance=empty,
        epsilon=bn.epsilon,
        exponential_avg_factor=1.0,
        data_format="NHWC",
        is_training=True,
    )
    count = ops.cast(ops.size(x) // channels, "float32")
    variance = corrected_variance * ((count - 1.0) / ops.maximum(count, 1.0))
    momentum = bn.momentum
    bn.moving_mean.assign(
        ops.cast(bn.moving_mean, "float32") * momentum + mean * (1.0 - momentum)
    )
    bn.moving_variance.assign(
        ops.cast(bn.moving_variance, "float32") * momentum + variance * (1.0 - momentum)
    )
    return ops.cast(ops.reshape(y, shape), bn.compute_dtype)
