"""Helpers shared by the speed benchmarks: reference models, timing, peaks, ISA.

The benchmarks compare our Keras model with PyTorchVideo's on the same input,
in the same process, interleaving the contenders round by round so that load
from other processes on a shared machine hits every contender alike.

On a CPU with more than AVX2 they also measure, in a child process, what an
AVX2-only CPU gets (``--isa``): both frameworks' CPU kernels depend on the
instruction set, and so does whether TensorFlow uses oneDNN at all.
"""

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

PRESETS = {
    "8x8": ("slowfast_8x8_r50", 4),
    "4x16": ("slowfast_4x16_r50", 8),
    "8x8-nl": ("slowfast_8x8_r50_nl", 4),
}


def variant_label(variant):
    """The table name of a benchmark variant: ``"SlowFast 8x8 R50 + NL"``..."""
    name, _, extra = variant.partition("-")
    return f"SlowFast {name} R50" + (" + NL" if extra == "nl" else "")


def reference_model(variant):
    """PyTorchVideo SlowFast R50 (``"8x8"`` = hub ``slowfast_r50``; ``"4x16"``).

    ``"8x8-nl"`` is the 8x8 R50 with fusion kernel 5 and PySlowFast's
    non-local blocks after Slow res3 blocks 1, 3 and res4 blocks 1, 3, 5
    (the torch non-local block of the parity tests), as our
    ``slowfast_8x8_r50_nl`` preset.
    """
    from tests.convert.torch_reference import insert_nonlocal
    from tests.reference import import_pytorchvideo_models

    models = import_pytorchvideo_models()
    if variant == "8x8":
        return models.hub.slowfast_r50(pretrained=False)
    if variant == "8x8-nl":
        model = models.slowfast.create_slowfast(
            slowfast_fusion_conv_kernel_size=(5, 1, 1)
        )
        insert_nonlocal(model, 3, [1, 3])
        insert_nonlocal(model, 4, [1, 3, 5])
        return model
    # The head's fixed pool kernel only matters for its output size; the
    # global average that follows makes it size-independent.
    return models.slowfast.create_slowfast(
        slowfast_fusion_conv_kernel_size=(5, 1, 1),
        slowfast_fusion_conv_stride=(8, 1, 1),
        head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7)),
    )


def torch_pathways(clip, alpha):
    """The PyTorchVideo input for a channels-last NumPy clip: ``[slow, fast]``."""
    import torch

    fast = torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 4, 1, 2, 3)))
    frames = clip.shape[1]
    index = torch.from_numpy(
        np.floor(np.linspace(0, frames - 1, frames // alpha)).astype("int64")
    )
    return [fast.index_select(2, index), fast]


def interleaved_medians(contenders, rounds, warmup=1):
    """Median seconds per call of each ``name -> fn``, run round-robin.

    Every contender runs ``warmup`` untimed calls first (tracing, compilation),
    then one timed call per round.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def matmul_peak_gflops(size=2048, repeats=5):
    """Measured float32 matrix-multiply peak (GFLOP/s, 2 per multiply-add).

    Best of TensorFlow's and torch's matmul on a ``size`` square product, the
    most the hardware delivered to either framework in this run.
    """
    import tensorflow as tf
    import torch

    a = np.random.rand(size, size).astype("float32")
    flops = 2 * size**3
    tf_a = tf.constant(a)
    torch_a = torch.from_numpy(a)
    best = float("inf")
    for fn in (lambda: tf.linalg.matmul(tf_a, tf_a).numpy(), lambda: torch_a @ torch_a):
        fn()
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def peak_rss_gib():
    """Peak resident memory of this process so far, in GiB.

    Reads ``VmHWM`` from /proc (reset at exec); ``getrusage``'s ``ru_maxrss``
    would include the parent's peak in a subprocess started by fork + exec.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


# Instruction-set levels, highest first: (name, /proc/cpuinfo flag).
ISA_LEVELS = (
    ("AMX", "amx_tile"),
    ("AVX-512-BF16", "avx512_bf16"),
    ("AVX-512", "avx512f"),
    ("AVX2", "avx2"),
)
# TensorFlow turns oneDNN on by default on Linux only for CPUs with one of these
# (tensorflow/core/util/util.cc, DefaultOneDnnPolicy); elsewhere it runs its
# Eigen kernels.
TF_ONEDNN_FLAGS = (
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
# What an AVX2-only CPU gets, on a bigger one: oneDNN (torch's, and
# TensorFlow's where enabled) limited to AVX2, TensorFlow's default oneDNN
# policy for such a CPU (off), and torch's other kernels limited to AVX2 as
# well (its ATen vector kernels and MKL, which dispatch on the CPU at run
# time). All must be set before the frameworks load. TensorFlow's Eigen
# kernels are compiled for a fixed instruction set, the same on every CPU.
AVX2_ENVIRONMENT = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
ISA_CHOICES = ("native", "avx2", "both")


def cpu_flags():
    """The CPU feature flags of /proc/cpuinfo, as a set (empty if unreadable)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa_level(flags=None):
    """The CPU's highest vector instruction-set level: ``"AVX-512-BF16"``..."""
    flags = cpu_flags() if flags is None else flags
    for name, flag in ISA_LEVELS:
        if flag in flags:
            return name
    return "below AVX2" if flags else "unknown ISA"


def isa_label():
    """The ISA level this process runs at: the CPU's, or the oneDNN limit."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return f"{limit} (limited)" if limit else isa_level()


def tensorflow_uses_onednn(flags=None):
    """Whether TensorFlow runs its oneDNN kernels in this process."""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if setting is not None:
        return setting.lower() in ("1", "true")
    flags = cpu_flags() if flags is None else flags
    return any(flag in flags for flag in TF_ONEDNN_FLAGS)


def add_isa_arguments(parser):
    """Adds ``--isa`` (and the hidden flag of the AVX2 child) to ``parser``."""
    parser.add_argument(
        "--isa",
        choices=ISA_CHOICES,
        default="both",
        help="native: this CPU's instruction set; avx2: oneDNN limited to AVX2 "
        "and TensorFlow's oneDNN off, as on an AVX2-only CPU (in a child "
        "process); both (default): native, then avx2 if the CPU has more",
    )
    parser.add_argument("--isa-child", action="store_true", help=argparse.SUPPRESS)


def avx2_note():
    """What the rows marked ``AVX2 (limited)`` measured."""
    settings = " ".join(f"{k}={v}" for k, v in AVX2_ENVIRONMENT.items())
    return (
        f"AVX2 (limited) rows: a child process with {settings}, what an "
        "AVX2-only CPU gets by default."
    )


def isa_runs(args):
    """Which runs ``args.isa`` asks for: ``(run here, run in an AVX2 child)``."""
    if args.isa_child:
        return True, False
    above_avx2 = isa_level() in ("AMX", "AVX-512-BF16", "AVX-512")
    if args.isa == "native":
        return True, False
    if args.isa == "avx2":
        return not above_avx2, above_avx2
    return True, above_avx2


def run_avx2_child(script):
    """Runs ``script`` again with the AVX2 environment; prints its table rows.

    The child gets this process's arguments plus ``--isa-child`` and prints
    only table rows (lines starting with ``|``), which are printed here as
    they come, and notes, which are returned to print after the table.
    """
    command = [sys.executable, script, *sys.argv[1:], "--isa-child"]
    notes = []
    with subprocess.Popen(
        command,
        env={**os.environ, **AVX2_ENVIRONMENT},
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        for line in child.stdout:
            if line.startswith("|"):
                print(line, end="", flush=True)
            elif line.strip():
                notes.append(line.rstrip("\n"))
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command)
    return notes


def print_table(args, script, columns, measure, intro=()):
    """Prints a benchmark's table at the ISA levels ``args.isa`` asks for.

    The machine line, ``intro`` lines and the header (``columns``), unless
    this is the AVX2 child; then ``measure(args)``'s rows from this process,
    and the rows and notes of the AVX2 child running ``script`` if the CPU is
    above AVX2.
    """
    here, child = isa_runs(args)
    if not args.isa_child:
        print(f"machine: {machine_line()}")
        for line in intro:
            print(line)
        print()
        print("| " + " | ".join(columns) + " |")
        print("|---" * len(columns) + "|")
    if here:
        measure(args)
    if child:
        for note in run_avx2_child(script) + [avx2_note()]:
            print(note)


def machine_line():
    """One line describing the machine: CPU model, cores, memory, ISA level."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as info:
            memory = int(info.readline().split()[1]) / 2**20
    except OSError:
        memory = float("nan")
    onednn = "on" if tensorflow_uses_onednn() else "off (Eigen kernels)"
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {isa_level()}, "
        f"TensorFlow oneDNN {onednn}"
    )
