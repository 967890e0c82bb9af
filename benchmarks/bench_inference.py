"""Inference speed of SlowFast R50: ours against PyTorchVideo, same inputs, same run.

For each (model, size, batch) it times, interleaved round by round: our model
eagerly, under ``tf.function``, under ``tf.function(jit_compile=True)`` (XLA)
and as an exported SavedModel; PyTorchVideo eagerly and under
``torch.compile``. It prints a Markdown table with the median seconds per clip,
clips per second, our/reference time ratio (reference = PyTorchVideo eager),
achieved GFLOP/s (2 FLOPs per multiply-accumulate of the direct
convolutions; our Winograd units do fewer, so ours can pass the peak) against
the measured float32 matmul peak, and, in separate processes, the peak
resident memory of one framework running that configuration alone. On a CPU
with more than AVX2 the same table is measured again with oneDNN limited to
AVX2 (``--isa``).

    python benchmarks/bench_inference.py                      # 8x8 R50, 224, batch 1
    python benchmarks/bench_inference.py --models 8x8 4x16 --sizes 224 256 \\
        --batches 1 8 --rounds 5
    python benchmarks/bench_inference.py --isa native         # this CPU's ISA only
    python benchmarks/bench_inference.py --direct   # + ours without Winograd
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np  # noqa: E402 (common sets up the path and logging first)
from common import (
    PRESETS,
    add_isa_arguments,
    interleaved_medians,
    isa_label,
    isa_runs,
    matmul_peak_gflops,
    peak_rss_gib,
    print_table,
    reference_model,
    torch_pathways,
    variant_label,
)


def our_contenders(
    variant, clip, savedmodel_dir, include_xla, include_bf16=False, include_direct=False
):
    import tensorflow as tf

    import keras_slowfast as ks
    from keras_slowfast.layers.conv_bn import without_winograd

    model = ks.from_preset(PRESETS[variant][0])
    inputs = tf.constant(clip)
    graph = tf.function(lambda x: model(x, training=False))
    contenders = {
        "ours eager": lambda: model(inputs, training=False).numpy(),
        "ours tf.function": lambda: graph(inputs).numpy(),
    }
    if include_bf16:
        # Opt-in mixed precision: bfloat16 compute, float32 weights and logits.
        from keras_slowfast.models.precision import with_dtype

        half = with_dtype(model, "mixed_bfloat16", head_dtype="float32")
        half_graph = tf.function(lambda x: half(x, training=False))
        contenders["ours bfloat16 tf.function"] = lambda: half_graph(inputs).numpy()
    if include_direct:
        # Traced (on its first call) without Winograd convolutions, to show
        # what they save in the same run.
        direct_graph = tf.function(lambda x: model(x, training=False))

        def direct():
            with without_winograd():
                return direct_graph(inputs).numpy()

        contenders["ours tf.function, no Winograd"] = direct
    if include_xla:
        xla = tf.function(lambda x: model(x, training=False), jit_compile=True)
        contenders["ours XLA"] = lambda: xla(inputs).numpy()
    if savedmodel_dir:
        # The clip's frame size, as a TF Serving export has (its crop size;
        # keras_slowfast.export.export_saved_model): with a free frame size
        # ConvBN3D cannot fuse its epilogues or use Winograd convolutions.
        model.export(
            savedmodel_dir,
            format="tf_saved_model",
            verbose=False,
            input_signature=[tf.TensorSpec((None, *clip.shape[1:]), tf.float32)],
        )
        served = tf.saved_model.load(savedmodel_dir)
        contenders["ours SavedModel"] = lambda: served.serve(inputs).numpy()
    return model, contenders


def reference_contenders(variant, clip, include_compile):
    import torch

    reference = reference_model(variant).eval()
    alpha = PRESETS[variant][1]

    def run(module):
        with torch.inference_mode():
            return module(torch_pathways(clip, alpha)).numpy()

    contenders = {"PyTorchVideo eager": lambda: run(reference)}
    if include_compile:
        compiled = torch.compile(reference, dynamic=False)
        contenders["PyTorchVideo torch.compile"] = lambda: run(compiled)
    return contenders


def memory_child(framework, variant, size, batch, calls):
    """Runs one framework alone and prints its peak RSS (GiB) as JSON."""
    clip = np.random.rand(batch, 32, size, size, 3).astype("float32")
    if framework == "ours":
        contenders = our_contenders(variant, clip, None, include_xla=False)[1]
        run = contenders["ours tf.function"]
    else:
        run = reference_contenders(variant, clip, include_compile=False)[
            "PyTorchVideo eager"
        ]
    for _ in range(calls):
        run()
    print(json.dumps({"peak_rss_gib": peak_rss_gib()}))


def measure_memory(framework, variant, size, batch):
    command = [
        sys.executable,
        __file__,
        "--memory-child",
        framework,
        "--models",
        variant,
        "--sizes",
        str(size),
        "--batches",
        str(batch),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_gib"]


def measure(args, peak):
    """Times every (model, size, batch) here and prints the table rows."""
    import keras_slowfast as ks

    isa = isa_label()
    for variant in args.models:
        for size in args.sizes:
            for batch in args.batches:
                clip = np.random.rand(batch, 32, size, size, 3).astype("float32")
                with tempfile.TemporaryDirectory() as directory:
                    model, ours = our_contenders(
                        variant,
                        clip,
                        os.path.join(directory, "sm"),
                        not args.no_xla,
                        args.bf16,
                        args.direct,
                    )
                    macs = ks.count_flops(model, (32, size, size, 3), batch_norm=False)
                    contenders = {
                        **reference_contenders(variant, clip, not args.no_compile),
                        **ours,
                    }
                    medians = interleaved_medians(contenders, args.rounds)
                memory = {}
                if not args.no_memory:
                    memory["ours tf.function"] = measure_memory(
                        "ours", variant, size, batch
                    )
                    memory["PyTorchVideo eager"] = measure_memory(
                        "reference", variant, size, batch
                    )
                reference = medians["PyTorchVideo eager"]
                for name, seconds in medians.items():
                    per_clip = seconds / batch
                    gflops = 2 * macs / per_clip / 1e9
                    rss = f"{memory[name]:.2f}" if name in memory else "—"
                    print(
                        f"| {isa} | {variant_label(variant)} | {size} | {batch} | "
                        f"{name} | {per_clip:.3f} | {1 / per_clip:.2f} | "
                        f"{seconds / reference:.2f} | {gflops:.0f} | "
                        f"{100 * gflops / peak:.0f}% | {rss} |",
                        flush=True,
                    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["8x8"], choices=sorted(PRESETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[224])
    parser.add_argument("--batches", nargs="+", type=int, default=[1])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    parser.add_argument("--no-xla", action="store_true", help="skip the XLA contender")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile (slow to build)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip peak memory")
    parser.add_argument(
        "--bf16", action="store_true", help="add our model in mixed bfloat16"
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="add our tf.function without Winograd convolutions "
        "(ConvBN3D.winograd_for_inference = False)",
    )
    parser.add_argument(
        "--memory-child", choices=["ours", "reference"], help=argparse.SUPPRESS
    )
    add_isa_arguments(parser)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(
            args.memory_child, args.models[0], args.sizes[0], args.batches[0], 3
        )
        return

    here, _ = isa_runs(args)
    intro = []
    if here:
        peak = matmul_peak_gflops()
        # In the AVX2 child this line is a note, printed after the table.
        line = f"measured float32 matmul peak, {isa_label()}: {peak:.0f} GFLOP/s"
        if args.isa_child:
            print(line)
        else:
            intro.append(line)
    columns = [
        "ISA",
        "model",
        "size",
        "batch",
        "contender",
        "s/clip",
        "clips/s",
        "ratio vs ref eager",
        "GFLOP/s",
        "% of peak",
        "peak RSS GiB",
    ]
    print_table(args, __file__, columns, lambda args: measure(args, peak), intro)


if __name__ == "__main__":
    main()
