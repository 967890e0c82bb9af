"""The 2D formulations of 3D convolutions equal the convolutions they replace."""

import re
from collections import Counter

import numpy as np
import pytest
import torch
from keras import ops

from keras_slowfast.layers import ConvBN3D
from keras_slowfast.layers.conv_formulations import (
    EXPLICIT_PADDING_MIN_CHANNELS,
    add_bias,
    frame_stacked_conv,
    padded_conv,
)
from keras_slowfast.layers.utils import padded_max_pool_2d
from tests.test_case import run_on_torch_backend


def _conv_and_gradients(conv, x, kernel, upstream):
    """``conv(x, kernel)`` and its gradients w.r.t. input and kernel (TensorFlow)."""
    import tensorflow as tf

    x, kernel = tf.constant(x), tf.constant(kernel)
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = conv(x, kernel)
    return [y, *tape.gradient(y, [x, kernel], output_gradients=upstream)]


@pytest.mark.parametrize(
    "frames, kernel, strides, dilation, frames_per_conv",
    [
        (8, (5, 7, 7), (2, 2), (1, 1), 4),  # Fast stem: 4 frames per conv
        (7, (5, 7, 7), (2, 2), (1, 1), 4),  # last group padded (3 of 4 frames)
        (6, (1, 7, 7), (2, 2), (1, 1), 1),  # Slow stem: one frame, plain conv2d
        (5, (3, 3, 3), (1, 1), (2, 2), 8),  # more frames per conv than outputs
        (6, (3, 5, 3), (1, 2), (1, 1), 2),  # odd spatial kernel and stride
    ],
)
def test_frame_stacked_conv_matches_conv3d(
    frames, kernel, strides, dilation, frames_per_conv
):
    """Forward pass and both gradients equal those of the Conv3D it replaces."""
    rng = np.random.default_rng(3)
    channels, filters = 3, 5
    x = rng.uniform(-1, 1, size=(2, frames, 11, 10, channels)).astype("float32")
    fan_in = channels * int(np.prod(kernel))
    weights = rng.normal(0, fan_in**-0.5, size=(*kernel, channels, filters))
    weights = weights.astype("float32")

    def conv3d(x, k):
        return ops.conv(
            x, k, strides=(1, *strides), padding="valid", dilation_rate=(1, *dilation)
        )

    def stacked(x, k):
        return frame_stacked_conv(x, k, frames_per_conv, strides, dilation)

    out_shape = conv3d(x, weights).shape
    upstream = rng.uniform(-1, 1, size=out_shape).astype("float32")
    expected = _conv_and_gradients(conv3d, x, weights, upstream)
    got = _conv_and_gradients(stacked, x, weights, upstream)
    assert got[0].shape == out_shape
    for name, g, e in zip(
        ("output", "d input", "d kernel"), got, expected, strict=True
    ):
        g, e = np.asarray(g), np.asarray(e)
        assert np.abs(e).max() > 0.5, name  # not a comparison between zeros
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0, err_msg=name)


def _padded_reference(x, kernel, strides, padding, dilation):
    pads = [[0, 0], *([p, p] for p in padding), [0, 0]]
    return ops.conv(ops.pad(x, pads), kernel, strides, "valid", dilation_rate=dilation)


@pytest.mark.parametrize(
    "channels, kernel, strides, padding, dilation",
    [
        (3, (7, 7), (2, 2), (3, 3), (1, 1)),  # few channels: padded copy
        (EXPLICIT_PADDING_MIN_CHANNELS, (7, 7), (2, 2), (3, 3), (1, 1)),  # explicit
        (16, (3, 3), (2, 1), (1, 1), (1, 1)),
        (16, (3, 1), (4, 1), (2, 0), (1, 1)),  # lateral fusion shape, time x pixels
        (16, (3, 3), (1, 1), (1, 1), (1, 1)),  # "same"
        (16, (3, 3), (1, 1), (2, 2), (2, 2)),  # dilated "same"
        (16, (3, 3), (1, 1), (1, 1), (1, 2)),  # dilated, not "same": padded copy
        (4, (3, 3, 3), (1, 2, 2), (1, 1, 1), (1, 1, 1)),  # 3D
    ],
)
def test_padded_conv_equals_padding_first(channels, kernel, strides, padding, dilation):
    """Forward pass and both gradients, whichever way the padding is done."""
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, size=(2, *([11] * len(kernel)), channels))
    weights = rng.normal(0, 0.3, size=(*kernel, channels, 5))
    out_shape = _padded_reference(x, weights, strides, padding, dilation).shape
    upstream = rng.uniform(-1, 1, size=out_shape)

    def ours(x, k):
        return padded_conv(x, k, strides, padding, dilation)

    def reference(x, k):
        return _padded_reference(x, k, strides, padding, dilation)

    got = _conv_and_gradients(ours, x, weights, upstream)
    expected = _conv_and_gradients(reference, x, weights, upstream)
    for name, g, e in zip(
        ("output", "d input", "d kernel"), got, expected, strict=True
    ):
        assert np.abs(np.asarray(e)).max() > 0.5, name
        np.testing.assert_allclose(
            np.asarray(g), np.asarray(e), atol=1e-10, err_msg=name
        )


def test_frame_stacked_conv_pads_and_runs_its_epilogues():
    """Temporal and spatial padding, the channel epilogue and the frame-wise op.

    The epilogue (bias + ReLU on every copy of the filters) and the frame-wise
    max pool run before the output frames are unstacked; the result equals
    padding, Conv3D, bias, ReLU and pooling each frame, in that order.
    """
    import tensorflow as tf

    rng = np.random.default_rng(9)
    filters, kernel = 4, (5, 7, 7)
    x = rng.uniform(-1, 1, size=(2, 7, 12, 11, 3))
    weights = rng.normal(0, 0.1, size=(*kernel, 3, filters))
    bias = rng.normal(0, 0.5, size=(filters,))

    def epilogue(y, copies):
        return ops.relu(add_bias(y, ops.tile(bias, (copies,))))

    def pool(frames):
        return tf.nn.max_pool2d(frames, 3, 2, "VALID")

    got = frame_stacked_conv(
        x, weights, 3, (2, 2), padding=(2, 3, 3), epilogue=epilogue, frame_wise=pool
    )
    padded = np.pad(x, [[0, 0], [2, 2], [3, 3], [3, 3], [0, 0]])
    conv = ops.relu(ops.conv(padded, weights, (1, 2, 2), "valid") + bias)
    _, frames, height, width, _ = conv.shape
    pooled = pool(ops.reshape(conv, (-1, height, width, filters)))
    expected = ops.reshape(pooled, (2, frames, *pooled.shape[1:]))
    assert got.shape == expected.shape
    assert np.abs(np.asarray(expected)).max() > 0.5
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-10)


@pytest.mark.parametrize(
    "pool_size, strides, padding", [(3, 2, 1), (3, 1, 1), (2, 2, 1)]
)
def test_padded_max_pool_2d_matches_pytorch(pool_size, strides, padding):
    """-inf padding (the padding never wins), values and gradient."""
    import tensorflow as tf

    x = np.random.default_rng(10).normal(size=(2, 9, 8, 3)).astype("float32") - 2.0
    pool = torch.nn.MaxPool2d(pool_size, strides, padding)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2)).requires_grad_()
    expected = pool(xt)
    (expected**2).sum().backward()
    xs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        got = padded_max_pool_2d(xs, pool_size, strides, padding)
        loss = tf.reduce_sum(got**2)
    np.testing.assert_allclose(
        np.asarray(got), expected.detach().numpy().transpose(0, 2, 3, 1), atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(tape.gradient(loss, xs)),
        xt.grad.numpy().transpose(0, 2, 3, 1),
        atol=1e-5,
    )


def _optimized_op_types(fn, x):
    """How many ops of each type TensorFlow runs for ``fn(x)``, optimized.

    oneDNN's kernels (TensorFlow's default on CPUs with AVX512-VNNI or AMX)
    are counted under the op they implement: ``_MklNativeFusedConv2D`` as
    ``_FusedConv2D``, ``_MklTranspose`` as ``Transpose``.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = tf.function(fn).get_concrete_function(tf.TensorSpec(x.shape, x.dtype))
    frozen = convert_variables_to_constants_v2(concrete)
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(frozen.graph.as_graph_def(), name="")
        (placeholder,) = [
            op for op in graph.get_operations() if op.type == "Placeholder"
        ]
        output = graph.get_tensor_by_name(frozen.outputs[0].name)
        metadata = tf.compat.v1.RunMetadata()
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(
                output,
                {placeholder.outputs[0]: x},
                options=tf.compat.v1.RunOptions(trace_level=3),
                run_metadata=metadata,
            )
    counts = Counter()
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            if " = " in node.timeline_label:
                op = node.timeline_label.split(" = ")[1].split("(")[0]
                op = re.sub("^_Mkl(Native)?", "", op)
                counts["_" + op if op.startswith("Fused") else op] += 1
    return counts


def _inference_unit_op_types(kernel, strides, input_shape):
    """``_optimized_op_types`` of an 8-filter ``ConvBN3D`` in inference."""
    rng = np.random.default_rng(11)
    layer = ConvBN3D(8, kernel, strides=strides)
    x = rng.normal(size=input_shape).astype("float32")
    layer.build(x.shape)
    # Nonzero BN statistics: a zero bias would be folded away, and with it
    # the fusion these tests look for.
    layer.set_weights(
        [rng.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in layer.weights]
    )
    return _optimized_op_types(lambda x: layer(x, training=False), x)


@pytest.mark.parametrize(
    "kernel, strides, channels, fused_op",
    [
        ((1, 3, 3), (1, 2, 2), 16, "_FusedConv2D"),  # explicit padding
        ((1, 3, 3), (1, 2, 2), 300, "_FusedConv2D"),  # wide: 2D all the same
        ((3, 1, 1), (1, 1, 1), 16, "_FusedConv2D"),  # temporal, "same"
        ((1, 1, 1), (1, 1, 1), 16, "_FusedMatMul"),  # pointwise
    ],
)
def test_inference_unit_is_one_fused_kernel(kernel, strides, channels, fused_op):
    """Conv, folded batch norm and ReLU run as one TensorFlow kernel.

    The optimizer fuses them only when the bias add directly follows the
    convolution; a separate ``BiasAdd``, ``AddV2`` or ``Relu`` means a reshape
    or cast slipped in between. No unit pads a copy of its input (on a
    padded copy, TensorFlow's optimizer fails in oneDNN training graphs).
    """
    op_types = _inference_unit_op_types(kernel, strides, (1, 8, 12, 12, channels))
    assert op_types[fused_op] == 1, op_types
    unfused = {"BiasAdd", "AddV2", "Mul", "Relu", "Conv3D", "Conv2D", "Pad"}
    assert not set(op_types) & unfused, op_types


def test_frame_stacked_stem_copies_its_input_once():
    """The Fast stem: one padded copy, one transpose in, no concatenation.

    The 5x7x7 kernel over 4 output frames per position spans two blocks of 4
    input frames: two 2D convolutions over slices of the same block tensor,
    summed, then one bias add and ReLU (the folded scale is in the kernel);
    the transposes move frames to channels and back.
    """
    op_types = _inference_unit_op_types((5, 7, 7), (1, 2, 2), (1, 8, 32, 32, 3))
    assert op_types["Conv2D"] == 2, op_types
    assert op_types["Pad"] == 1 and op_types["Transpose"] == 2, op_types
    assert op_types["AddV2"] == op_types["BiasAdd"] == op_types["Relu"] == 1
    assert not set(op_types) & {"ConcatV2", "GatherV2", "Conv3D", "Mul"}, op_types


@pytest.mark.torch
def test_formulations_on_the_torch_backend():
    """Plain keras.ops: the same forward pass and gradients under torch autograd.

    Frame stacking with padding (the Fast stem) against torch's Conv3d, and
    the padded max pool against torch's, padding included (float64: the
    summation order is not Conv3d's).
    """
    script = (
        "import numpy as np, keras, torch\n"
        "from keras import ops\n"
        "from keras_slowfast.layers.conv_formulations import frame_stacked_conv\n"
        "from keras_slowfast.layers.utils import padded_max_pool_2d\n"
        "assert keras.backend.backend() == 'torch'\n"
        "rng = np.random.default_rng(5)\n"
        "x = torch.tensor(rng.uniform(-1, 1, (2, 7, 11, 11, 3)), dtype=torch.float64,"
        " requires_grad=True)\n"
        "k = torch.tensor(rng.normal(0, 0.1, (5, 7, 7, 3, 8)), dtype=torch.float64,"
        " requires_grad=True)\n"
        "up = torch.tensor(rng.uniform(-1, 1, (2, 7, 6, 6, 8)), dtype=torch.float64)\n"
        "def run(fn):\n"
        "    y = fn()\n"
        "    return [y, *torch.autograd.grad(y, [x, k], up)]\n"
        "got = run(lambda: frame_stacked_conv(x, k, 4, (2, 2), padding=(2, 3, 3)))\n"
        "def conv3d():\n"
        "    w = k.permute(4, 3, 0, 1, 2)\n"
        "    y = torch.nn.functional.conv3d(x.permute(0, 4, 1, 2, 3), w,"
        " stride=(1, 2, 2), padding=(2, 3, 3))\n"
        "    return y.permute(0, 2, 3, 4, 1)\n"
        "ref = run(conv3d)\n"
        "for g, r in zip(got, ref):\n"
        "    print(float((g - r).abs().max()), float(r.abs().max()))\n"
        "frames = x[:, 0] - 2.0\n"
        "pooled = padded_max_pool_2d(frames, 3, 2, 1)\n"
        "ref = torch.nn.functional.max_pool2d(frames.permute(0, 3, 1, 2), 3, 2, 1)\n"
        "print(float((pooled - ref.permute(0, 2, 3, 1)).abs().max()),"
        " float(ref.abs().max()))\n"
    )
    output = run_on_torch_backend(script)
    rows = [[float(v) for v in line.split()] for line in output.splitlines()]
    assert len(rows) == 4
    for error, magnitude in rows:
        assert error <= 1e-10 and magnitude > 0.5
