"""Command-line options shared by commands that load a trained model."""


def add_model_arguments(parser):
    """``--weights``, ``--preset``, ``--num-classes``, ``--labels``."""
    parser.add_argument(
        "--weights",
        required=True,
        help="a .keras model file, or a .weights.h5 file together with --preset",
    )
    parser.add_argument(
        "--preset",
        help="architecture preset for a .weights.h5 file (see `info --list`)",
    )
    parser.add_argument(
        "--num-classes",
        type=int,
        help="classes of the preset's head (with --preset; default: the preset's)",
    )
    parser.add_argument(
        "--labels",
        help="label map: one class name per line, a JSON list, or JSON {name: id}",
    )


def load_model_from_args(args):
    """Builds or loads the model the options name."""
    from keras_slowfast.predict import load_model

    overrides = {}
    if args.num_classes is not None:
        if args.preset is None:
            raise ValueError("--num-classes needs --preset")
        overrides["num_classes"] = args.num_classes
    return load_model(args.weights, args.preset, **overrides)
