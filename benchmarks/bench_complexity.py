"""Parameters and GFLOPs of every preset and paper ablation, beside the references.

Prints a Markdown table: ours (conv + dense + non-local matmuls, the PyTorchVideo
zoo / paper convention, and the fvcore total that adds batch norm), the
PyTorchVideo model built in the same run (parameters) and the published figures.

    python benchmarks/bench_complexity.py [--size 256]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_slowfast as ks  # noqa: E402
from keras_slowfast.models.complexity import flop_breakdown  # noqa: E402

# (row label, builder, frames, PyTorchVideo builder name or None,
#  zoo GFLOPs, paper GFLOPs, paper top-1) -- published figures from REFERENCE.md.
ROWS = [
    (
        "SlowFast 4x16 R50",
        lambda: ks.from_preset("slowfast_4x16_r50"),
        32,
        "slowfast_4x16_r50",
        36.69,
        36.1,
        75.6,
    ),
    (
        "SlowFast 8x8 R50",
        lambda: ks.from_preset("slowfast_8x8_r50"),
        32,
        "slowfast_r50",
        65.71,
        65.7,
        77.0,
    ),
    (
        "SlowFast 8x8 R101",
        lambda: ks.from_preset("slowfast_8x8_r101"),
        32,
        "slowfast_r101",
        127.20,
        106,
        77.9,
    ),
    (
        "SlowFast 16x8 R101 (50_50)",
        lambda: ks.from_preset("slowfast_16x8_r101_50_50"),
        64,
        "slowfast_16x8_r101_50_50",
        215.61,
        213,
        78.9,
    ),
    (
        "SlowFast 16x8 R101 (50_50) + NL",
        lambda: ks.from_preset("slowfast_16x8_r101_50_50_nl"),
        64,
        None,
        None,
        234,
        79.8,
    ),
    (
        "SlowFast 8x8 R50 + NL",
        lambda: ks.from_preset("slowfast_8x8_r50_nl"),
        32,
        None,
        None,
        None,
        None,
    ),
    (
        "Slow-only 4x16 R50",
        lambda: ks.from_preset("slow_4x16_r50"),
        4,
        None,
        None,
        27.3,
        72.6,
    ),
    (
        "Slow-only 8x8 R50",
        lambda: ks.from_preset("slow_8x8_r50"),
        8,
        "slow_r50",
        None,
        None,
        None,
    ),
    (
        "Fast-only 4x16 R50",
        lambda: ks.from_preset("fast_4x16_r50"),
        32,
        None,
        None,
        6.4,
        51.7,
    ),
    (
        "4x16 R50, T-sample fusion",
        lambda: ks.SlowFastR50(fusion="tsample"),
        32,
        None,
        None,
        None,
        75.4,
    ),
    (
        "4x16 R50, TtoC sum fusion",
        lambda: ks.SlowFastR50(fusion="ttoc_sum"),
        32,
        None,
        None,
        None,
        74.5,
    ),
    (
        "4x16 R50, TtoC concat fusion",
        lambda: ks.SlowFastR50(fusion="ttoc_concat"),
        32,
        None,
        None,
        None,
        74.3,
    ),
    (
        "4x16 R50, gray Fast input",
        lambda: ks.SlowFastR50(fast_input="gray"),
        32,
        None,
        None,
        34.1,
        75.5,
    ),
] + [
    (
        f"4x16 R50, beta=1/{k}",
        (lambda k=k: ks.SlowFastR50(beta=1 / k)),
        32,
        None,
        None,
        36.1 if k == 8 else None,
        top1,
    )
    for k, top1 in ((4, 75.6), (6, 75.8), (8, 75.6), (12, 75.2), (16, 75.1), (32, 74.2))
]


def pytorchvideo_params(name):
    """Parameters of the PyTorchVideo model, built here with random weights."""
    from tests.reference import import_pytorchvideo_models, torch_param_count

    models = import_pytorchvideo_models()
    if name == "slowfast_4x16_r50":
        module = models.slowfast.create_slowfast(
            slowfast_fusion_conv_kernel_size=(5, 1, 1),
            slowfast_fusion_conv_stride=(8, 1, 1),
            head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7)),
        )
    else:
        module = getattr(models.hub, name)(pretrained=False)
    return torch_param_count(module)


def _fmt(value, spec):
    return "—" if value is None else format(value, spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="view size (256)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorchVideo")
    args = parser.parse_args()
    print(
        "| model | params (ours) | params (PyTorchVideo) | GFLOPs ours | "
        "GFLOPs ours + BN (fvcore total) | GFLOPs zoo | ours/zoo | GFLOPs paper | "
        "paper top-1 |"
    )
    print("|---" * 9 + "|")
    for label, build, frames, reference, zoo, paper, top1 in ROWS:
        model = build()
        counts = flop_breakdown(model, (frames, args.size, args.size, 3))
        gflops = (sum(counts.values()) - counts.get("batch_norm", 0)) / 1e9
        total = sum(counts.values()) / 1e9
        params = ks.count_params(model)
        theirs = (
            None
            if (reference is None or args.no_torch)
            else pytorchvideo_params(reference)
        )
        ratio = None if zoo is None else total / zoo
        print(
            f"| {label} | {params:,d} | {_fmt(theirs, ',d')} | {gflops:.2f} | "
            f"{total:.2f} | {_fmt(zoo, '.2f')} | {_fmt(ratio, '.4f')} | "
            f"{_fmt(paper, '')} | {_fmt(top1, '')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
