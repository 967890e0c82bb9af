"""Matrix-product speed of TensorFlow against torch on SlowFast R50's shapes.

Every unit-stride ``(1, 1, 1)`` unit of the model runs as one matrix product
(``conv_formulations.pointwise_conv``): ``(pixels, channels) x (channels,
filters)``. This script times each distinct product alone in both frameworks,
interleaved round by round, first with all cores and then, in a child
process, with one thread: where the frameworks are alike on one thread and
apart on all of them, the difference is how the library splits one product
over the cores, not its kernel or our formulation. A square 2048 product
(the ``% of peak`` reference of the other benchmarks) ends each block.

Rows are sorted by their share of the model's products (count x time); the
totals are count-weighted. Ratios are TensorFlow / torch.

Products this small are sensitive to what the other framework's threads are
doing: torch's OpenMP threads spin for a while after each of its calls, which
slows the TensorFlow call that follows (``OMP_WAIT_POLICY=PASSIVE`` stops it;
benchmarks/RESULTS.md has the figures). Read the whole-model benchmarks for
end-to-end ratios; this one says where the product time goes.

    python benchmarks/bench_gemm.py                    # 8x8 R50, 224, batch 1
    python benchmarks/bench_gemm.py --batch 8 --isa native
"""

import argparse
import os
import subprocess
import sys

import numpy as np  # noqa: E402 (common sets up the path and logging first)
from bench_layers import conv_units
from common import (
    PRESETS,
    add_isa_arguments,
    interleaved_medians,
    isa_label,
    print_table,
)

SQUARE = 2048


def products(variant, size, batch):
    """Distinct matrix products of the model: ``[((m, k, n), unit names)]``."""
    shapes = {}
    for config, shape, names in conv_units(variant, size):
        if tuple(config["kernel_size"]) != (1, 1, 1) or set(config["strides"]) != {1}:
            continue
        frames, height, width, channels = shape
        key = (batch * frames * height * width, channels, config["filters"])
        shapes.setdefault(key, []).extend(names)
    return sorted(shapes.items(), key=lambda item: -len(item[1]) * np.prod(item[0]))


def set_threads(threads):
    """Both frameworks' thread pools at ``threads`` (None: their defaults)."""
    import tensorflow as tf
    import torch

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def contenders(m, k, n, rng):
    """TensorFlow's and torch's product of the same random matrices."""
    import tensorflow as tf
    import torch

    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    tf_a, tf_b = tf.constant(a), tf.constant(b)
    # One element comes back, so neither side pays for copying the product out.
    graph = tf.function(lambda: tf.linalg.matmul(tf_a, tf_b)[0, 0])
    torch_a, torch_b = torch.from_numpy(a), torch.from_numpy(b)
    return {
        "tf": lambda: graph().numpy(),
        "torch": lambda: float(torch.mm(torch_a, torch_b)[0, 0]),
    }


def measure(args):
    """Prints this process's rows, then those of a one-thread child."""
    threads = set_threads(args.threads)
    rng = np.random.default_rng(0)
    isa = isa_label()

    def row(m, k, n, count, unit):
        medians = interleaved_medians(contenders(m, k, n, rng), args.rounds, warmup=2)
        ms = {key: 1e3 * value for key, value in medians.items()}
        gflops = 2 * m * k * n / 1e6
        print(
            f"| {isa} | {threads} | {m}x{k}x{n} | {count} | {unit} | "
            f"{ms['tf']:.2f} | {ms['torch']:.2f} | {ms['tf'] / ms['torch']:.2f} | "
            f"{gflops / ms['tf']:.0f} | {gflops / ms['torch']:.0f} |",
            flush=True,
        )
        return ms

    totals = {"tf": 0.0, "torch": 0.0}
    units = products(args.model, args.size, args.batch)
    for (m, k, n), names in units:
        ms = row(m, k, n, len(names), names[0])
        for key in totals:
            totals[key] += len(names) * ms[key]
    print(
        f"| {isa} | {threads} | **total** | {sum(len(names) for _, names in units)} "
        f"| | {totals['tf']:.1f} | {totals['torch']:.1f} | "
        f"{totals['tf'] / totals['torch']:.2f} | | |",
        flush=True,
    )
    row(SQUARE, SQUARE, SQUARE, "", "square reference")
    if args.threads is None and threads > 1:
        run_one_thread_child()


def run_one_thread_child():
    """This script again on one thread (same environment), its rows printed."""
    command = [sys.executable, __file__, *sys.argv[1:], "--isa-child", "--threads", "1"]
    result = subprocess.run(
        command, env=dict(os.environ), stdout=subprocess.PIPE, text=True, check=True
    )
    for line in result.stdout.splitlines():
        if line.startswith("|"):
            print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="8x8", choices=sorted(PRESETS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds (9)")
    parser.add_argument(
        "--threads",
        type=int,
        help="threads of both frameworks (default: theirs, all cores, then 1)",
    )
    add_isa_arguments(parser)
    args = parser.parse_args()
    columns = [
        "ISA",
        "threads",
        "M x K x N",
        "n",
        "units",
        "TensorFlow ms",
        "torch ms",
        "ratio",
        "TensorFlow GFLOP/s",
        "torch GFLOP/s",
    ]
    intro = [
        f"SlowFast {args.model} R50 pointwise units as matrix products, "
        f"{args.size}x{args.size}, batch {args.batch}, median of {args.rounds} "
        "rounds; ratio = TensorFlow / torch"
    ]
    print_table(args, os.path.abspath(__file__), columns, measure, intro)


if __name__ == "__main__":
    main()
