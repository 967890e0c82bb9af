"""``explain``: a video of the Slow and Fast Grad-CAM heat maps of a classifier."""

from keras_slowfast.commands._model_args import (
    add_model_arguments,
    add_window_arguments,
)

HELP = (
    "Show what a classifier looks at: Grad-CAM heat maps of the Slow and Fast "
    "pathways, side by side, as a video and/or PNG frames."
)


def add_arguments(parser):
    parser.add_argument("video", metavar="VIDEO", help="the video to explain")
    add_model_arguments(parser)
    parser.add_argument(
        "--class",
        dest="class_name",
        metavar="NAME",
        help="class to explain: a name from --labels or an id "
        "(default: each window's top class)",
    )
    parser.add_argument(
        "--out", metavar="PATH", help="heat-map video to write (.mp4 or .avi)"
    )
    parser.add_argument(
        "--frames-out", metavar="DIR", help="also write every frame as a PNG here"
    )
    add_window_arguments(parser)
    parser.add_argument(
        "--opacity", type=float, default=0.5, help="heat-map weight (0.5)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    from keras_slowfast.commands._model_args import load_model_from_args
    from keras_slowfast.explain.video import explain_video

    if not args.out and not args.frames_out:
        raise ValueError("give --out VIDEO and/or --frames-out DIR")
    model = load_model_from_args(args)
    result = explain_video(
        model,
        args.video,
        args.out,
        class_name=args.class_name,
        labels=args.labels,
        frames_out=args.frames_out,
        sampling_rate=args.sampling_rate,
        target_fps=args.target_fps,
        window_stride=args.window_stride,
        short_side=args.short_side,
        crop_size=args.crop_size,
        opacity=args.opacity,
        backend=args.backend,
        verbose=0 if args.quiet else 1,
    )
    for window in result["windows"]:
        print(
            f"{window['start_time']:8.2f}s  {window['class_name']}  "
            f"{window['score']:.1%}"
        )
    targets = [p for p in (result["out"], args.frames_out) if p]
    print(f"wrote {result['frames']} frames to {' and '.join(targets)}")
    return 0
