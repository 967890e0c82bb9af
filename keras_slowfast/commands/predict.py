"""``predict``: classify whole videos with sliding windows or multi-view testing."""

import sys

from keras_slowfast.commands._model_args import (
    add_model_arguments,
    add_window_arguments,
    crop_size_from_args,
)

# The runtimes of keras_slowfast.export.runtime.RUNTIMES, listed here so that
# building the parser does not import TensorFlow.
RUNTIMES = ("onnxruntime", "tflite", "tf")

# Columns of --csv: one row per window and rank, plus the whole video.
CSV_HEADER = [
    "video",
    "window",
    "start_time",
    "end_time",
    "rank",
    "class_id",
    "class_name",
    "score",
]

HELP = "Classify videos: top-k per window and for the whole video (table/JSON/CSV)."


def add_arguments(parser):
    parser.add_argument("videos", nargs="*", metavar="VIDEO", help="video files")
    parser.add_argument(
        "--camera",
        metavar="SOURCE",
        help="live input instead of files: camera index (0) or stream URL; "
        "prints a line per window until Ctrl-C",
    )
    parser.add_argument(
        "--every",
        type=int,
        help="with --camera: new frames between predictions (default: half a window)",
    )
    parser.add_argument(
        "--max-windows", type=int, help="with --camera: stop after this many windows"
    )
    add_model_arguments(parser)
    add_window_arguments(parser)
    parser.add_argument(
        "--runtime",
        choices=("keras",) + RUNTIMES,
        default="keras",
        help="keras (a .keras/.weights.h5 model), or run an exported file given "
        "as --weights: onnxruntime (.onnx), tflite (.tflite), tf (SavedModel "
        "directory)",
    )
    parser.add_argument(
        "--num-clips",
        type=int,
        help="multi-view: this many uniformly spaced windows (default: sliding)",
    )
    parser.add_argument(
        "--num-crops", type=int, choices=(1, 3), default=1, help="spatial views (1)"
    )
    parser.add_argument("--top-k", type=int, default=5, help="classes shown (5)")
    parser.add_argument("--batch-size", type=int, default=4, help="views per call (4)")
    parser.add_argument("--json", metavar="PATH", help="write all results as JSON")
    parser.add_argument("--csv", metavar="PATH", help="write all results as CSV")
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no table"
    )


def run(args):
    import csv
    import json

    from keras_slowfast.data.decode import VideoDecodeError
    from keras_slowfast.inference.classify import predict_video
    from keras_slowfast.labels import load_label_map

    if not args.videos and args.camera is None:
        raise ValueError("give VIDEO files or --camera SOURCE")
    if args.videos and args.camera is not None:
        raise ValueError("give either VIDEO files or --camera, not both")
    model = _load_model(args)
    labels = load_label_map(args.labels) if args.labels else None
    # A Keras model resolves an unset crop from its own settings.
    crop_size = (
        args.crop_size
        if args.runtime == "keras"
        else crop_size_from_args(args, model.metadata.get("image_size"))
    )
    if args.camera is not None:
        return _run_stream(args, model, labels, crop_size)
    results, failures = [], 0
    for path in args.videos:
        try:
            result = predict_video(
                model,
                path,
                sampling_rate=args.sampling_rate,
                target_fps=args.target_fps,
                num_clips=args.num_clips,
                window_stride=args.window_stride,
                num_crops=args.num_crops,
                short_side=args.short_side,
                crop_size=crop_size,
                top_k=args.top_k,
                labels=labels,
                batch_size=args.batch_size,
                backend=args.backend,
                verbose=0 if args.quiet else 1,
            )
        except VideoDecodeError as error:
            # One bad file does not stop the others; the exit code reports it.
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        results.append(result)
        if not args.quiet:
            print(format_table(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump([to_json(r) for r in results], file, indent=2)
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(CSV_HEADER)
            for result in results:
                writer.writerows(csv_rows(result))
    return 2 if failures else 0


def _load_model(args):
    """A Keras model, or the exported file ``--weights`` names for ``--runtime``."""
    from keras_slowfast.commands._model_args import load_model_from_args

    if args.runtime == "keras":
        return load_model_from_args(args)
    from keras_slowfast.export.runtime import ExportedModel

    if args.preset is not None or args.num_classes is not None:
        raise ValueError(
            f"--runtime {args.runtime} runs an exported file; drop --preset and "
            "--num-classes"
        )
    return ExportedModel(args.weights, args.runtime)


def _run_stream(args, model, labels, crop_size):
    from keras_slowfast.inference.classify import predict_stream

    windows = predict_stream(
        model,
        args.camera,
        sampling_rate=args.sampling_rate,
        target_fps=args.target_fps,
        every=args.every,
        num_crops=args.num_crops,
        short_side=args.short_side,
        crop_size=crop_size,
        top_k=args.top_k,
        labels=labels,
        max_windows=args.max_windows,
    )
    try:
        for window in windows:
            classes = ", ".join(
                f"{c['name']} {c['score']:.3f}" for c in window["top_k"]
            )
            seconds = f"{window['start_time']:.2f}-{window['end_time']:.2f} s"
            print(f"{seconds}: {classes}")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop a live stream
    return 0


def format_table(result):
    """A plain-text table of one ``predict_video`` result."""
    rate = f"{result['fps']:g} fps" if result["fps"] else "unknown fps"
    lines = [f"{result['path']}  ({result['duration']:.2f} s, {rate})"]
    lines.append(f"  {'seconds':>15s}  top classes")
    for window in result["windows"]:
        seconds = f"{window['start_time']:.2f}-{window['end_time']:.2f}"
        classes = ", ".join(f"{c['name']} {c['score']:.3f}" for c in window["top_k"])
        lines.append(f"  {seconds:>15s}  {classes}")
    classes = ", ".join(f"{c['name']} {c['score']:.3f}" for c in result["top_k"])
    lines.append(f"  {'whole video':>15s}  {classes}")
    return "\n".join(lines)


def to_json(result):
    """The result as JSON-serializable data (probabilities as a list)."""
    return {**result, "probabilities": [float(p) for p in result["probabilities"]]}


def csv_rows(result):
    """CSV rows: video, window, start/end time, rank, id, name, score."""
    rows = []
    entries = [(str(i), w) for i, w in enumerate(result["windows"])]
    whole = {
        "start_time": 0.0,
        "end_time": result["duration"],
        "top_k": result["top_k"],
    }
    entries.append(("video", whole))
    for name, window in entries:
        for rank, entry in enumerate(window["top_k"], 1):
            rows.append(
                [
                    result["path"],
                    name,
                    window["start_time"],
                    window["end_time"],
                    rank,
                    entry["id"],
                    entry["name"],
                    f"{entry['score']:.6f}",
                ]
            )
    return rows
