"""Per-layer speed of SlowFast R50's conv units: ours against torch.nn.Conv3d.

Walks our Keras model's ``ConvBN3D`` units (stems, bottleneck convs, lateral
fusion convs) at the benchmark clip size, groups identical units (input shape,
kernel, stride, dilation, filters) with a count, and times each distinct unit
alone, interleaved round by round with ``torch.nn.Conv3d`` + ``BatchNorm3d``
(+ ReLU) of the same shape (PyTorchVideo's unit):

* forward: ours as the model runs in inference (``tf.function``, batch norm
  folded into the kernel, 2D convolutions where ConvBN3D uses them), torch
  in ``inference_mode``;
* forward + backward: batch norm in training mode, gradients of the weights
  and, except for the stems (whose input is the clip), of the input.

The stems' rows include the stem's max pool on both sides ("+ pool"): a
frame-stacked stem pools before it unstacks its output frames, so the pool
is part of how its convolution runs.

The table is sorted by our total time (count x (forward + forward/backward))
and ends with the totals; ratios are ours / torch.

    python benchmarks/bench_layers.py                  # 8x8 R50, 224, batch 1
    python benchmarks/bench_layers.py --batch 8 --isa native --rounds 5
    python benchmarks/bench_layers.py --match _stem --conv3d   # stems as Conv3D
"""

import argparse
from collections import Counter

import numpy as np  # noqa: E402 (common sets up the path and logging first)
from common import (
    PRESETS,
    add_isa_arguments,
    interleaved_medians,
    isa_label,
    print_table,
    variant_label,
)


def conv_units(variant, size):
    """Distinct ``ConvBN3D`` units of our model: ``[(config, input shape, names)]``.

    ``input shape`` is one clip's ``(frames, height, width, channels)``; the
    config is that of the first unit of the group (names differ).
    """
    import keras_slowfast as ks
    from keras_slowfast.layers import ConvBN3D

    model = ks.from_preset(PRESETS[variant][0], image_size=(size, size))
    groups = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, ConvBN3D):
            continue
        shape = tuple(layer.get_build_config()["input_shape"][1:])
        key = (
            shape,
            layer.kernel_size,
            layer.strides,
            layer.dilation_rate,
            layer.filters,
            layer.activation,
        )
        groups.setdefault(key, (layer.get_config(), shape, []))[2].append(layer.path)
    return list(groups.values())


def is_stem(names):
    """Whether the units are stem convolutions (they read the clip)."""
    return all(name.split("/")[0].endswith("_stem") for name in names)


def our_unit(config, shape, batch, stem, rng):
    """Forward and forward + backward of our unit, as ``tf.function`` callables.

    A stem's unit includes the stem's max pool, which a frame-stacked unit
    runs before it unstacks its output frames; it has no input gradient (its
    input is the clip).
    """
    import tensorflow as tf

    from keras_slowfast.layers import ConvBN3D
    from keras_slowfast.layers.stem import stem_max_pool

    layer = ConvBN3D.from_config(config)
    inputs = tf.constant(rng.random((batch, *shape), dtype="float32"))
    layer.build(inputs.shape)
    pool = stem_max_pool if stem else None
    output_shape = layer(inputs[:1], training=False, frame_wise=pool).shape
    upstream = tf.constant(rng.random((batch, *output_shape[1:]), dtype="float32"))
    forward = tf.function(lambda: layer(inputs, training=False, frame_wise=pool))
    input_gradient = not stem

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            if input_gradient:
                tape.watch(inputs)
            outputs = layer(inputs, training=True, frame_wise=pool)
        sources = layer.trainable_variables + ([inputs] if input_gradient else [])
        return tape.gradient(outputs, sources, output_gradients=upstream)

    return forward, forward_backward


def torch_unit(config, shape, batch, stem, rng):
    """The same unit in PyTorch: Conv3d (no bias) + BatchNorm3d (+ ReLU).

    Stems add PyTorchVideo's stem max pool and have no input gradient.
    """
    import torch

    kernel, dilation = config["kernel_size"], config["dilation_rate"]
    modules = [
        torch.nn.Conv3d(
            shape[-1],
            config["filters"],
            kernel,
            stride=config["strides"],
            padding=tuple(
                d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True)
            ),
            dilation=dilation,
            bias=config["use_bias"],
        ),
        torch.nn.BatchNorm3d(config["filters"], eps=1e-5, momentum=0.1),
    ]
    if config["activation"]:
        modules.append(torch.nn.ReLU(inplace=True))
    if stem:
        modules.append(torch.nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
    input_gradient = not stem
    unit = torch.nn.Sequential(*modules)
    frames, height, width, channels = shape
    inputs = torch.from_numpy(
        rng.random((batch, channels, frames, height, width), dtype="float32")
    )
    with torch.no_grad():
        upstream = torch.rand_like(unit.eval()(inputs))

    def forward():
        unit.eval()
        with torch.inference_mode():
            return unit(inputs)

    def forward_backward():
        unit.train()
        unit.zero_grad(set_to_none=True)
        x = inputs.detach().requires_grad_(input_gradient)
        unit(x).backward(upstream)

    return forward, forward_backward


def _triple(values):
    return "x".join(str(v) for v in values)


def measure(args):
    """Times every distinct unit here and prints the table rows and totals."""
    from keras_slowfast.layers import ConvBN3D

    ConvBN3D.conv_as_2d = not args.conv3d
    rng = np.random.default_rng(0)
    isa = isa_label()
    rows = []
    for config, shape, names in conv_units(args.model, args.size):
        if args.match and not any(args.match in name for name in names):
            continue
        stem = is_stem(names)
        ours = our_unit(config, shape, args.batch, stem, rng)
        theirs = torch_unit(config, shape, args.batch, stem, rng)
        medians = interleaved_medians(
            {
                "ours fwd": ours[0],
                "torch fwd": theirs[0],
                "ours fwd+bwd": ours[1],
                "torch fwd+bwd": theirs[1],
            },
            args.rounds,
        )
        rows.append((config, shape, names, {k: 1e3 * v for k, v in medians.items()}))
    totals = Counter()
    for _, _, names, ms in rows:
        for key, value in ms.items():
            totals[key] += len(names) * value
    rows.sort(
        key=lambda row: -len(row[2]) * (row[3]["ours fwd"] + row[3]["ours fwd+bwd"])
    )
    for config, shape, names, ms in rows:
        count = len(names)
        ours_total = count * (ms["ours fwd"] + ms["ours fwd+bwd"])
        torch_total = count * (ms["torch fwd"] + ms["torch fwd+bwd"])
        unit = f"{names[0]} + pool" if is_stem(names) else names[0]
        print(
            f"| {isa} | {unit} | {count} | {_triple(shape)} | "
            f"{_triple(config['kernel_size'])} | {_triple(config['strides'])} | "
            f"{config['filters']} | {ms['ours fwd']:.1f} | {ms['torch fwd']:.1f} | "
            f"{ms['ours fwd'] / ms['torch fwd']:.2f} | {ms['ours fwd+bwd']:.1f} | "
            f"{ms['torch fwd+bwd']:.1f} | "
            f"{ms['ours fwd+bwd'] / ms['torch fwd+bwd']:.2f} | {ours_total:.1f} | "
            f"{torch_total:.1f} | {ours_total / torch_total:.2f} |",
            flush=True,
        )
    ours_total = totals["ours fwd"] + totals["ours fwd+bwd"]
    torch_total = totals["torch fwd"] + totals["torch fwd+bwd"]
    print(
        f"| {isa} | **total** | {sum(len(row[2]) for row in rows)} | | | | | "
        f"{totals['ours fwd']:.1f} | {totals['torch fwd']:.1f} | "
        f"{totals['ours fwd'] / totals['torch fwd']:.2f} | "
        f"{totals['ours fwd+bwd']:.1f} | {totals['torch fwd+bwd']:.1f} | "
        f"{totals['ours fwd+bwd'] / totals['torch fwd+bwd']:.2f} | "
        f"{ours_total:.1f} | {torch_total:.1f} | {ours_total / torch_total:.2f} |",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="8x8", choices=sorted(PRESETS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument(
        "--match", help="only the units whose layer path contains this text"
    )
    parser.add_argument(
        "--conv3d",
        action="store_true",
        help="run every unit as a Conv3D (ConvBN3D.conv_as_2d = False)",
    )
    add_isa_arguments(parser)
    args = parser.parse_args()
    columns = [
        "ISA",
        "unit",
        "n",
        "input TxHxWxC",
        "kernel",
        "stride",
        "filters",
        "ours fwd",
        "torch fwd",
        "ratio",
        "ours fwd+bwd",
        "torch fwd+bwd",
        "ratio",
        "ours total",
        "torch total",
        "ratio",
    ]
    intro = [
        f"{variant_label(args.model)}, {args.size}x{args.size}, batch {args.batch}, "
        f"median of {args.rounds} rounds; times in ms per call"
    ]
    print_table(args, __file__, columns, measure, intro)


if __name__ == "__main__":
    main()
