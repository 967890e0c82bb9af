"""Detection inference speed: our SlowFastDetector against PyTorchVideo's.

Both are the AVA SlowFast 8x8 R50 detector (res5 at stride 1, dilation 2, so
the final maps have stride 16; RoIAlign 7x7 per person box; 80 sigmoid
classes), run in inference on the same random clip and boxes, interleaved
round by round. The reference is ``pytorchvideo.models.hub.slowfast_r50_detection``
in eager mode. torchvision's compiled ``roi_align`` does not load with this
CPU-only torch, so its RoIAlign here is a torch stand-in of the same cost
class (``grid_sample`` at 2x2 points per bin, then a 2x2 average): the boxes
are a negligible part of either model's time; the backbone is the rest.
On a CPU with more than AVX2 the table is measured again as on an AVX2-only
CPU (``--isa``).

    python benchmarks/bench_detect.py                  # 224, batch 1, 4 boxes
    python benchmarks/bench_detect.py --boxes 16 --rounds 5 --isa native
"""

import argparse
import sys
import types

import numpy as np  # noqa: E402 (common sets up the path and logging first)
from common import (
    add_isa_arguments,
    interleaved_medians,
    isa_label,
    print_table,
    torch_pathways,
)

SAMPLES = 2  # RoIAlign sampling points per bin and axis, stand-in only


def install_torch_roi_align():
    """A ``torchvision.ops.RoIAlign`` in plain torch, for timing only."""
    import torch

    class RoIAlign(torch.nn.Module):
        def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
            super().__init__()
            self.output_size = tuple(output_size)
            self.scale = spatial_scale
            self.offset = 0.5 if aligned else 0.0

        def forward(self, features, rois):
            _, _, height, width = features.shape
            out_h, out_w = self.output_size
            steps_y = (torch.arange(out_h * SAMPLES) + 0.5) / (out_h * SAMPLES)
            steps_x = (torch.arange(out_w * SAMPLES) + 0.5) / (out_w * SAMPLES)
            pooled = []
            for roi in rois:
                x1, y1, x2, y2 = (roi[1:] * self.scale - self.offset).tolist()
                ys = y1 + steps_y * (y2 - y1)
                xs = x1 + steps_x * (x2 - x1)
                grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
                grid = (grid + 0.5) / torch.tensor([width, height]) * 2 - 1
                sampled = torch.nn.functional.grid_sample(
                    features[int(roi[0]) : int(roi[0]) + 1],
                    grid[None],
                    align_corners=False,
                )
                pooled.append(torch.nn.functional.avg_pool2d(sampled, SAMPLES))
            return torch.cat(pooled)

    torchvision = types.ModuleType("torchvision")
    torchvision.ops = types.ModuleType("torchvision.ops")
    torchvision.ops.RoIAlign = RoIAlign
    sys.modules["torchvision"] = torchvision
    sys.modules["torchvision.ops"] = torchvision.ops


def boxes_for(batch, count, size, rng):
    """``count`` random person-like boxes per clip, ``x1, y1, x2, y2`` pixels."""
    corner = rng.uniform(0, size * 0.5, size=(batch, count, 2))
    extent = rng.uniform(size * 0.2, size * 0.5, size=(batch, count, 2))
    return np.concatenate([corner, corner + extent], axis=-1).astype("float32")


def contenders(clip, boxes):
    import tensorflow as tf
    import torch

    import keras_slowfast as ks
    from tests.reference import import_pytorchvideo_models

    ours = ks.SlowFastR50Detection(
        num_classes=80, num_frames=clip.shape[1], image_size=clip.shape[2:4]
    )
    inputs = [tf.constant(clip), tf.constant(boxes)]
    traced = tf.function(lambda x: ours(x, training=False))

    install_torch_roi_align()
    reference = import_pytorchvideo_models().hub.slowfast_r50_detection(
        pretrained=False
    )
    reference.eval()
    batch_index = np.repeat(np.arange(len(boxes)), boxes.shape[1])[:, None]
    rois = torch.from_numpy(
        np.concatenate([batch_index, boxes.reshape(-1, 4)], axis=1).astype("float32")
    )

    def run_reference():
        with torch.inference_mode():
            # A new list each call: the model rewrites its input list.
            return reference(torch_pathways(clip, 4), rois).numpy()

    return {
        "PyTorchVideo eager": run_reference,
        "ours tf.function": lambda: traced(inputs).numpy(),
    }


def measure(args):
    rng = np.random.default_rng(0)
    clip = rng.random((args.batch, 32, args.size, args.size, 3), dtype="float32")
    boxes = boxes_for(args.batch, args.boxes, args.size, rng)
    medians = interleaved_medians(contenders(clip, boxes), args.rounds)
    reference = medians["PyTorchVideo eager"]
    for name, seconds in medians.items():
        print(
            f"| {isa_label()} | SlowFast 8x8 R50 detector | {args.size} | "
            f"{args.batch} | {args.boxes} | {name} | {seconds / args.batch:.3f} | "
            f"{seconds / reference:.2f} |",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--boxes", type=int, default=4, help="boxes per clip (4)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    add_isa_arguments(parser)
    args = parser.parse_args()
    columns = [
        "ISA",
        "model",
        "size",
        "batch",
        "boxes per clip",
        "contender",
        "s/clip",
        "ratio vs ref eager",
    ]
    print_table(args, __file__, columns, measure)


if __name__ == "__main__":
    main()
