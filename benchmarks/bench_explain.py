"""Explaining a video against predicting it: ``explain_video`` vs ``predict_video``.

The goal (issue "See what the model sees"): Grad-CAM heat maps of a 10 s video
take less time than ``predict`` with 3 crops. Both run the same SlowFast 8x8
R50 (random weights: speed does not depend on them) over the same generated
10 s, 30 fps video (an h264-like moving pattern written with OpenCV's mp4v),
with the same sliding windows; ``explain`` also writes the heat-map video.
The contenders are interleaved round by round. On a CPU with more than AVX2
the table is measured again as on an AVX2-only CPU (``--isa``).

    python benchmarks/bench_explain.py                 # 224, 10 s, 3 rounds
    python benchmarks/bench_explain.py --seconds 4 --rounds 2 --isa native
"""

import argparse
import os
import tempfile

import numpy as np  # noqa: E402 (common sets up the path and logging first)
from common import add_isa_arguments, interleaved_medians, isa_label, print_table


def write_video(path, seconds, fps=30, size=(320, 240)):
    """A moving gradient with a bright square: ``seconds`` at ``fps``."""
    import cv2

    width, height = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    y, x = np.mgrid[:height, :width]
    for index in range(int(seconds * fps)):
        frame = np.stack(
            [(x + 4 * index) % 256, (y + 2 * index) % 256, np.full_like(x, 96)], -1
        ).astype(np.uint8)
        left = (5 * index) % (width - 40)
        frame[100:140, left : left + 40] = 250
        writer.write(frame)
    writer.release()


def measure(args):
    import keras

    from keras_slowfast.explain.video import explain_video
    from keras_slowfast.inference.classify import predict_video
    from keras_slowfast.models import from_preset

    keras.utils.set_random_seed(0)
    model = from_preset("slowfast_8x8_r50")
    with tempfile.TemporaryDirectory() as folder:
        video = os.path.join(folder, "ten_seconds.mp4")
        write_video(video, args.seconds)
        out = os.path.join(folder, "heat.mp4")
        common = {"short_side": args.size, "crop_size": args.size, "verbose": 0}
        windows = []

        def predict():
            result = predict_video(model, video, num_crops=3, **common)
            windows.append(len(result["windows"]))

        def explain():
            explain_video(model, video, out, **common)

        medians = interleaved_medians(
            {"predict, 3 crops": predict, "explain (Grad-CAM video)": explain},
            args.rounds,
        )
    reference = medians["predict, 3 crops"]
    for name, seconds in medians.items():
        print(
            f"| {isa_label()} | SlowFast 8x8 R50 | {args.size} | {args.seconds:g} s "
            f"({windows[-1]} windows) | {name} | {seconds:.2f} | "
            f"{seconds / reference:.2f} |",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="crop size (224)")
    parser.add_argument("--seconds", type=float, default=10.0, help="video length")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    add_isa_arguments(parser)
    args = parser.parse_args()
    columns = [
        "ISA",
        "model",
        "crop",
        "video",
        "contender",
        "s/video",
        "ratio vs predict 3 crops",
    ]
    print_table(args, __file__, columns, measure)


if __name__ == "__main__":
    main()
