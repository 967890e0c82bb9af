import numpy as np
import pytest
from keras import ops

from keras_slowfast.layers import ConvBN3D, conv_bn, winograd
from keras_slowfast.layers.winograd import pays_off, winograd_axis, winograd_conv
from tests.tiny_models import tiny_task


def test_one_tile_is_the_correlation():
    """A^T [(G g) * (B^T d)] is the 3-tap correlation of 6 inputs (float64)."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, g = rng.normal(size=6), rng.normal(size=3)
        y = winograd._OUTPUT_TRANSFORM @ (
            (winograd._KERNEL_TRANSFORM @ g) * (winograd._INPUT_TRANSFORM @ d)
        )
        expected = [d[i : i + 3] @ g for i in range(4)]
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("length", [1, 3, 4, 7, 8, 9])
def test_tiled_transforms_convolve_the_padded_axis(length):
    """The tiled transforms give every output of the one-zero-padded axis."""
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=length), rng.normal(size=3)
    inputs, outputs = winograd._tiled_transforms(length)
    tiles = winograd.tiles_for(length)
    products = (inputs @ x).reshape(6, tiles) * (winograd._KERNEL_TRANSFORM @ g)[
        :, None
    ]
    padded = np.pad(x, 1)
    expected = [padded[i : i + 3] @ g for i in range(length)]
    np.testing.assert_allclose(outputs @ products.reshape(-1), expected, atol=1e-12)


@pytest.mark.parametrize(
    "kernel_size, strides, dilation, axis",
    [
        ((3, 1, 1), (1, 1, 1), (1, 1, 1), 1),
        ((1, 3, 3), (1, 1, 1), (1, 1, 1), 2),
        ((1, 3, 1), (1, 1, 1), (1, 1, 1), 2),
        ((1, 3, 5), (1, 1, 1), (1, 1, 1), 2),
        ((1, 3, 2), (1, 1, 1), (1, 1, 1), None),  # even width: asymmetric pad
        ((5, 1, 1), (1, 1, 1), (1, 1, 1), None),
        ((3, 3, 3), (1, 1, 1), (1, 1, 1), None),
        ((1, 5, 5), (1, 1, 1), (1, 1, 1), None),
        ((1, 3, 3), (1, 2, 2), (1, 1, 1), None),  # a stage's first conv_b
        ((3, 1, 1), (1, 1, 1), (2, 1, 1), None),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), None),
    ],
)
def test_winograd_axis(kernel_size, strides, dilation, axis):
    assert winograd_axis(kernel_size, strides, dilation) == axis


@pytest.mark.parametrize(
    "kernel_size, shape, filters, expected",
    [
        ((3, 1, 1), (1, 8, 14, 14, 1024), 256, True),  # Slow res4 conv_a
        ((3, 1, 1), (None, 8, 7, 7, 2048), 512, True),  # any batch size
        ((3, 1, 1), (1, 4, 14, 14, 1024), 256, True),  # 4x16 R50's 4 frames
        ((3, 1, 1), (1, 3, 14, 14, 1024), 256, True),  # 6 products vs 9
        ((3, 1, 1), (1, 5, 14, 14, 1024), 256, False),  # 12 products vs 15
        ((3, 1, 1), (1, 2, 14, 14, 1024), 256, False),
        ((3, 1, 1), (1, None, 14, 14, 1024), 256, False),
        ((3, 1, 1), (1, 32, 14, 14, 128), 32, False),  # Fast res4 conv_a
        ((1, 3, 3), (1, 8, 28, 28, 128), 128, True),  # Slow res3 conv_b
        ((1, 3, 3), (1, 8, 7, 7, 512), 512, True),
        ((1, 3, 3), (1, 8, 56, 56, 64), 64, False),  # Slow res2 conv_b
        ((1, 3, 3), (1, 8, None, None, 512), 512, False),  # free frame size
        ((1, 3, 3), (1, 8, 5, 5, 512), 512, False),
    ],
)
def test_where_winograd_pays_off(kernel_size, shape, filters, expected):
    assert pays_off(kernel_size, (1, 1, 1), (1, 1, 1), shape, filters) == expected


def _direct(x, kernel):
    """The plain Conv3D with PyTorch's symmetric zero padding."""
    pads = [[0, 0]] + [[k // 2, k // 2] for k in kernel.shape[:3]] + [[0, 0]]
    return ops.conv(ops.pad(x, pads), kernel, 1, "valid")


@pytest.mark.parametrize(
    "shape, kernel_size",
    [
        ((1, 8, 3, 2, 5), (3, 1, 1)),  # one clip: the frames lead already
        ((2, 9, 2, 3, 4), (3, 1, 1)),  # a partial last tile
        ((3, 4, 1, 1, 6), (3, 1, 1)),
        ((2, 3, 7, 5, 4), (1, 3, 3)),
        ((1, 1, 8, 4, 3), (1, 3, 1)),  # nothing before the height: no transpose
        ((2, 2, 4, 6, 3), (1, 3, 5)),
    ],
)
def test_same_as_the_direct_convolution(shape, kernel_size):
    """Equal to the padded Conv3D to 1e-10 in float64, with an epilogue."""
    rng = np.random.default_rng(2)
    x = ops.convert_to_tensor(rng.normal(size=shape))
    kernel = ops.convert_to_tensor(rng.normal(size=(*kernel_size, shape[-1], 7)))
    bias = rng.normal(size=7)
    copies_seen = []

    def epilogue(y, copies):
        copies_seen.append(copies)
        return ops.relu(y + np.tile(bias, copies))

    y = winograd_conv(x, kernel, epilogue)
    expected = ops.relu(_direct(x, kernel) + bias)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-10)
    others = np.prod(shape[:4]) // shape[winograd_axis(kernel_size, [1] * 3, [1] * 3)]
    assert copies_seen == [others]


@pytest.mark.parametrize("kernel_size", [(3, 1, 1), (1, 3, 3)])
def test_free_batch_size_in_a_graph(kernel_size):
    """With the batch size unknown the epilogue runs on (pixels, filters)."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    kernel = tf.constant(rng.normal(size=(*kernel_size, 4, 5)))
    bias = rng.normal(size=5)
    run = tf.function(
        lambda x: winograd_conv(x, kernel, lambda y, copies: y + np.tile(bias, copies)),
        input_signature=[tf.TensorSpec((None, 4, 4, 3, 4), tf.float64)],
    )
    x = tf.constant(rng.normal(size=(3, 4, 4, 3, 4)))
    np.testing.assert_allclose(run(x), _direct(x, kernel) + bias, atol=1e-10)


def test_float32_rounding():
    """Over 3 x 256 inputs per output: a few times the direct rounding error.

    Measured: 3.4x the direct float32 convolution's RMS error, at most 9e-6
    of the output's RMS.
    """
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 8, 4, 4, 256))
    kernel = rng.normal(size=(3, 1, 1, 256, 128)) / np.sqrt(3 * 256)
    exact = ops.convert_to_numpy(
        _direct(ops.convert_to_tensor(x), ops.convert_to_tensor(kernel))
    )
    x, kernel = (ops.convert_to_tensor(a, "float32") for a in (x, kernel))
    errors = [
        ops.convert_to_numpy(y) - exact
        for y in (winograd_conv(x, kernel), _direct(x, kernel))
    ]
    scale = np.sqrt(np.mean(exact**2))
    winograd_rms, direct_rms = (np.sqrt(np.mean(e**2)) for e in errors)
    assert np.abs(errors[0]).max() < 2e-5 * scale
    assert winograd_rms < 6 * direct_rms


@pytest.fixture
def winograd_calls(monkeypatch):
    """Counts the calls of ``winograd_conv`` from ``ConvBN3D``."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return winograd.winograd_conv(*args, **kwargs)

    monkeypatch.setattr(conv_bn, "winograd_conv", counted)
    return calls


def _wide_unit(kernel_size, dtype="float64", shape=(1, 4, 4, 4, 128)):
    rng = np.random.default_rng(5)
    layer = ConvBN3D(128, kernel_size, dtype=dtype)
    layer.build(shape)
    layer.set_weights(
        [
            rng.uniform(0.5, 1.5, size=w.shape)
            if "variance" in w.path or "gamma" in w.path
            else rng.normal(0, 0.1, size=w.shape)
            for w in layer.weights
        ]
    )
    return layer, ops.convert_to_tensor(rng.normal(size=shape), dtype)


@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize(
    "kernel_size, shape",
    [
        ((3, 1, 1), (1, 4, 4, 4, 128)),  # BN scale on the output (kernel larger)
        ((1, 3, 3), (1, 4, 4, 4, 128)),
        ((3, 1, 1), (2, 4, 12, 12, 128)),  # BN scale folded into the kernel
        ((1, 3, 3), (2, 4, 12, 12, 128)),
    ],
)
def test_conv_bn_inference_is_unchanged(
    kernel_size, shape, graph, winograd_calls, monkeypatch
):
    """The fused inference output is the direct one, to 1e-10 (float64)."""
    import tensorflow as tf

    layer, x = _wide_unit(kernel_size, shape=shape)
    outputs = {}
    for setting in (False, True):
        monkeypatch.setattr(ConvBN3D, "winograd_for_inference", setting)
        run = lambda x: layer(x, training=False)  # noqa: E731
        outputs[setting] = (tf.function(run) if graph else run)(x)
    np.testing.assert_allclose(outputs[True], outputs[False], atol=1e-10)
    assert winograd_calls == [x.shape]


def test_conv_bn_training_and_unfused_never_run_it(winograd_calls, monkeypatch):
    layer, x = _wide_unit((3, 1, 1))
    monkeypatch.setattr(ConvBN3D, "winograd_for_inference", True)
    layer(x, training=True)
    monkeypatch.setattr(ConvBN3D, "fuse_for_inference", False)
    layer(x, training=False)
    monkeypatch.setattr(ConvBN3D, "fuse_for_inference", True)
    monkeypatch.setattr(ConvBN3D, "conv_as_2d", False)
    layer(x, training=False)
    assert not winograd_calls
    bfloat16_layer, bfloat16_x = _wide_unit((3, 1, 1), "bfloat16")
    monkeypatch.setattr(ConvBN3D, "conv_as_2d", True)
    bfloat16_layer(bfloat16_x, training=False)
    assert not winograd_calls  # float32 and float64 only


@pytest.mark.parametrize(
    "graph, onednn, expected", [(True, False, 1), (True, True, 0), (False, False, 0)]
)
def test_auto_runs_in_eigen_graphs(
    graph, onednn, expected, winograd_calls, monkeypatch
):
    """``"auto"``: in TensorFlow graphs on its Eigen kernels only."""
    import tensorflow as tf

    layer, x = _wide_unit((3, 1, 1))
    monkeypatch.setattr(conv_bn, "tensorflow_runs_eigen", lambda: not onednn)
    monkeypatch.setattr(ConvBN3D, "winograd_for_inference", "auto")
    run = lambda x: layer(x, training=False)  # noqa: E731
    (tf.function(run) if graph else run)(x)
    assert len(winograd_calls) == expected


def test_model_logits_unchanged(winograd_calls, monkeypatch):
    """A whole model with every 3-tap unit by F(4, 3): same logits (float32)."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_FILTERS", 1)
    model = tiny_task(5)
    rng = np.random.default_rng(6)
    for w in model.weights:
        if "variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, size=w.shape))
        elif "beta" in w.path or "moving_mean" in w.path:
            w.assign(rng.normal(0, 0.1, size=w.shape))
    x = rng.uniform(-1, 1, size=(2, 8, 32, 32, 3)).astype("float32")
    monkeypatch.setattr(ConvBN3D, "winograd_for_inference", False)
    direct = ops.convert_to_numpy(model(x, training=False))
    monkeypatch.setattr(ConvBN3D, "winograd_for_inference", True)
    logits = ops.convert_to_numpy(model(x, training=False))
    # Both res2 conv_b and the Fast pathway's conv_a of every stage; not the
    # Slow pathway's 2 frames, nor the strided conv_b of later stages.
    assert len(winograd_calls) == 6
    np.testing.assert_allclose(
        logits, direct, rtol=1e-4, atol=1e-4 * np.abs(direct).max()
    )


@pytest.mark.parametrize("setting, expected", [("0", "True"), ("1", "False")])
def test_tensorflow_runs_eigen_follows_tensorflow(setting, expected):
    """What TensorFlow decides, here forced by ``TF_ENABLE_ONEDNN_OPTS``."""
    import os
    import subprocess
    import sys

    code = (
        "from keras_slowfast.layers.utils import tensorflow_runs_eigen; "
        "print(tensorflow_runs_eigen())"
    )
    env = {
        **os.environ,
        "TF_ENABLE_ONEDNN_OPTS": setting,
        "KERAS_BACKEND": "tensorflow",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split()[-1] == expected


def test_without_winograd_restores_the_setting(winograd_calls, monkeypatch):
    layer, x = _wide_unit((3, 1, 1))
    monkeypatch.setattr(ConvBN3D, "winograd_for_inference", True)
    with conv_bn.without_winograd():
        layer(x, training=False)
    assert not winograd_calls and ConvBN3D.winograd_for_inference is True
    with pytest.raises(RuntimeError), conv_bn.without_winograd():
        raise RuntimeError
    assert ConvBN3D.winograd_for_inference is True


@pytest.mark.parametrize("runtime", ["tflite", "onnx"])
def test_exports_trace_the_direct_form(runtime, winograd_calls, monkeypatch, tmp_path):
    """TFLite and ONNX exports trace no Winograd units, whatever the setting."""
    from keras_slowfast.export import export_onnx, export_tflite

    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_FILTERS", 1)
    monkeypatch.setattr(ConvBN3D, "winograd_for_inference", True)
    model = tiny_task(5)
    model(np.zeros((1, 8, 32, 32, 3), "float32"), training=False)
    assert winograd_calls  # the tiny model has units that qualify
    winograd_calls.clear()
    export = export_tflite if runtime == "tflite" else export_onnx
    export(model, tmp_path / f"tiny.{runtime}", short_side=32, crop_size=32)
    assert not winograd_calls and ConvBN3D.winograd_for_inference is True


@pytest.mark.torch
def test_winograd_on_the_torch_backend():
    """Plain keras.ops: torch's Conv3d's output, to float32 rounding.

    (Keras's torch ``matmul`` computes float64 products in float32.)
    """
    from tests.test_case import run_on_torch_backend

    script = (
        "import numpy as np, torch\n"
        "from keras_slowfast.layers.winograd import winograd_conv\n"
        "rng = np.random.default_rng(7)\n"
        "x = torch.tensor(rng.normal(size=(2, 8, 7, 5, 4)), dtype=torch.float32)\n"
        "for shape in ((3, 1, 1, 4, 6), (1, 3, 3, 4, 6)):\n"
        "    k = torch.tensor(rng.normal(size=shape), dtype=torch.float32)\n"
        "    got = winograd_conv(x, k)\n"
        "    ref = torch.nn.functional.conv3d(x.permute(0, 4, 1, 2, 3),"
        " k.permute(4, 3, 0, 1, 2), padding=tuple(s // 2 for s in shape[:3]))\n"
        "    ref = ref.permute(0, 2, 3, 4, 1)\n"
        "    print(float((got - ref).abs().max() / ref.abs().max()))\n"
    )
    errors = [float(line) for line in run_on_torch_backend(script).split()]
    assert len(errors) == 2 and max(errors) < 1e-5
