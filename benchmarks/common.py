"""Helpers shared by the speed benchmarks: reference models, timing, peaks.

The benchmarks compare our Keras model with PyTorchVideo's on the same input,
in the same process, interleaving the contenders round by round so that load
from other processes on a shared machine hits every contender alike.
"""

import os
import platform
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

PRESETS = {"8x8": ("slowfast_8x8_r50", 4), "4x16": ("slowfast_4x16_r50", 8)}


def reference_model(variant):
    """PyTorchVideo SlowFast R50 (``"8x8"`` = hub ``slowfast_r50``; ``"4x16"``)."""
    from tests.reference import import_pytorchvideo_models

    models = import_pytorchvideo_models()
    if variant == "8x8":
        return models.hub.slowfast_r50(pretrained=False)
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


def machine_line():
    """One line describing the machine: CPU model, cores, memory."""
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
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB"
