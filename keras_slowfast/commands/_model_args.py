"""Command-line options shared by commands that load a trained model."""


def add_model_arguments(parser):
    """``--weights``, ``--preset``, ``--num-classes``, ``--labels``."""
    parser.add_argument(
        "--weights",
        required=True,
        help="a pretrained preset (e.g. slowfast_8x8_r50_kinetics400; see `info "
        "--weights`), a .keras model file, a checkpoint (.pyth/.pth/.pkl) or its "
        "URL, or a .weights.h5 file together with --preset",
    )
    parser.add_argument(
        "--preset",
        help="preset of a .weights.h5 file or a checkpoint (see `info --list`)",
    )
    parser.add_argument(
        "--num-classes",
        type=int,
        help="classes of the preset's head (with --preset; default: the preset's)",
    )
    parser.add_argument(
        "--labels",
        help="label map: one class name per line, a JSON list, or JSON {name: id} "
        "(default: the model's own class names)",
    )


def add_window_arguments(parser):
    """The windows a video is read in and the view of each: ``--sampling-rate``,
    ``--target-fps``, ``--window-stride``, ``--backend``, ``--short-side``,
    ``--crop-size`` (the same meaning for ``predict`` and ``explain``)."""
    parser.add_argument(
        "--sampling-rate",
        type=int,
        help="frame step inside a window (default: the model's, else 2)",
    )
    parser.add_argument(
        "--target-fps",
        type=float,
        default=30.0,
        help="videos are resampled to this rate before striding (30, as training)",
    )
    parser.add_argument(
        "--window-stride",
        type=float,
        metavar="SECONDS",
        help="seconds between sliding windows (default: one window span)",
    )
    parser.add_argument(
        "--backend",
        choices=("opencv", "pyav"),
        default="opencv",
        help="video decoder (opencv)",
    )
    parser.add_argument(
        "--short-side",
        type=int,
        help="resize short side to (default: the model's, else 256)",
    )
    parser.add_argument(
        "--crop-size",
        type=int,
        default=None,
        help="square crop side (default: the model's, else its image_size, else "
        "224); 0 disables cropping",
    )


def crop_size_from_args(args, image_size):
    """``--crop-size``, else the model's fixed ``image_size``, else 224; 0 is None."""
    crop_size = args.crop_size
    if crop_size is None:
        fixed = tuple(image_size or (None, None))
        crop_size = fixed[0] if None not in fixed else 224
    return crop_size or None


def load_model_from_args(args):
    """Builds or loads the model the options name."""
    from keras_slowfast.models.loading import load_model
    from keras_slowfast.models.zoo import is_zoo_name

    overrides = {}
    if args.num_classes is not None:
        if args.preset is None and not is_zoo_name(args.weights):
            raise ValueError("--num-classes needs --preset or a pretrained preset")
        overrides["num_classes"] = args.num_classes
    return load_model(args.weights, preset=args.preset, **overrides)
