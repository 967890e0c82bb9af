"""Deployment runtimes on this CPU: which way of running SlowFast R50 is fastest.

For each batch size it exports our 8x8 R50 (random weights; speed does not
depend on them) and times, interleaved round by round on the same normalized
clips: Keras under ``tf.function``; the SavedModel's ``normalized`` signature
(``export_saved_model``); the ONNX file in ONNX Runtime (``export_onnx``); the
TFLite file, float32 and int8 dynamic-range, in LiteRT (``export_tflite``); and
PyTorchVideo's ``slowfast_r50`` eagerly. The exported files take the
``normalized`` signature, so every contender runs the network alone; ONNX
Runtime and LiteRT get one thread per core. The table gives median seconds
per clip, clips per second, the time relative to Keras ``tf.function`` and
the size of each exported file (SavedModel: the whole version directory).
Needs the ``onnx``, ``tflite`` and ``torch`` extras.

    python benchmarks/bench_deploy.py --batches 1 8 --rounds 5 --isa native
    python benchmarks/bench_deploy.py --tiny --rounds 1 --isa native  # smoke run
"""

import argparse
import os
import tempfile

import numpy as np  # noqa: E402 (common sets up the path and logging first)
from bench_inference import reference_contenders
from common import (
    PRESETS,
    add_isa_arguments,
    interleaved_medians,
    isa_label,
    print_table,
)

VARIANT = "8x8"
KERAS = "Keras tf.function"


def _size_mb(path):
    if os.path.isdir(path):
        total = sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, names in os.walk(path)
            for name in names
        )
    else:
        total = os.path.getsize(path)
    return total / 2**20


def _model(tiny):
    import keras_slowfast as ks

    if tiny:
        return ks.models.factories.classifier_from_arguments(
            stage_depths=[1, 1, 1, 1], num_frames=8, num_classes=5, image_size=None
        )
    return ks.from_preset(PRESETS[VARIANT][0])


def our_contenders(model, clip, directory):
    """``name -> (fn, file size in MiB or None)`` of Keras and the exports."""
    import tensorflow as tf

    from keras_slowfast.export import (
        ExportedModel,
        export_onnx,
        export_saved_model,
        export_tflite,
    )

    size = clip.shape[2]
    kwargs = dict(short_side=size, crop_size=size)
    inputs = tf.constant(clip)
    graph = tf.function(lambda x: model(x, training=False))
    contenders = {KERAS: (lambda: graph(inputs).numpy(), None)}

    saved = export_saved_model(model, os.path.join(directory, "sm"), **kwargs)
    signature = tf.saved_model.load(saved).signatures["normalized"]
    contenders["SavedModel"] = (
        lambda: signature(video=inputs)["probabilities"].numpy(),
        _size_mb(saved),
    )
    threads = os.cpu_count()
    files = {
        "ONNX Runtime": export_onnx(
            model, os.path.join(directory, "m.onnx"), signature="normalized", **kwargs
        )
    }
    for precision in ("float32", "int8"):
        files[f"TFLite {precision}"] = export_tflite(
            model,
            os.path.join(directory, f"m_{precision}.tflite"),
            signature="normalized",
            precision=precision,
            **kwargs,
        )
    for name, path in files.items():
        runner = ExportedModel(path, num_threads=threads)
        contenders[name] = (
            lambda runner=runner: runner(clip)["probabilities"],
            _size_mb(path),
        )
    return contenders


def measure(args):
    isa = isa_label()
    label = "tiny SlowFast (test config)" if args.tiny else f"SlowFast {VARIANT} R50"
    frames = 8 if args.tiny else 32
    for batch in args.batches:
        clip = np.random.rand(batch, frames, args.size, args.size, 3)
        clip = clip.astype("float32")
        model = _model(args.tiny)
        with tempfile.TemporaryDirectory() as directory:
            ours = our_contenders(model, clip, directory)
            contenders = {name: fn for name, (fn, _) in ours.items()}
            if not args.tiny:
                contenders.update(reference_contenders(VARIANT, clip, False))
            medians = interleaved_medians(contenders, args.rounds)
        keras_seconds = medians[KERAS]
        for name, seconds in medians.items():
            size_mb = ours.get(name, (None, None))[1]
            file = "—" if size_mb is None else f"{size_mb:.1f}"
            per_clip = seconds / batch
            print(
                f"| {isa} | {label} | {args.size} | {batch} | {name} | "
                f"{per_clip:.3f} | {1 / per_clip:.2f} | "
                f"{seconds / keras_seconds:.2f} | {file} |",
                flush=True,
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--size", type=int, default=224, help="crop side (224)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a tiny test-config model and no PyTorchVideo: checks the script runs",
    )
    add_isa_arguments(parser)
    args = parser.parse_args()
    columns = [
        "ISA",
        "model",
        "size",
        "batch",
        "runtime",
        "s/clip",
        "clips/s",
        "time vs Keras tf.function",
        "file MiB",
    ]
    intro = [
        f"threads: ONNX Runtime and LiteRT {os.cpu_count()}; "
        "TensorFlow and PyTorch their defaults"
    ]
    print_table(args, __file__, columns, measure, intro)


if __name__ == "__main__":
    main()
