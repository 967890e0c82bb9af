"""``convert``: a PyTorchVideo / PySlowFast checkpoint -> a Keras model file."""

HELP = "Convert a PyTorchVideo or PySlowFast checkpoint to .keras or .weights.h5."


def add_arguments(parser):
    parser.add_argument(
        "checkpoint",
        help="input checkpoint (.pyth, .pt, .pth, Caffe2 .pkl, optionally .gz) or "
        "its http(s) URL; read without torch",
    )
    parser.add_argument(
        "output",
        help="output file: NAME.keras (whole model) or NAME.weights.h5 (weights, "
        "with the architecture written to NAME.config.json)",
    )
    parser.add_argument(
        "--source",
        choices=("auto", "pytorchvideo", "pyslowfast"),
        default="auto",
        help="checkpoint naming scheme (default: guessed from the keys)",
    )
    parser.add_argument(
        "--preset",
        help="preset giving what the checkpoint does not show (alpha, num_frames), "
        "e.g. slowfast_4x16_r50",
    )
    parser.add_argument("--alpha", type=int, help="Fast/Slow frame-rate ratio")
    parser.add_argument("--num-frames", type=int, help="frames per input clip")
    parser.add_argument(
        "--num-classes",
        type=int,
        help="classes of a new head (drops the checkpoint's classifier)",
    )
    parser.add_argument(
        "--channel-order",
        choices=("rgb", "bgr"),
        help="channel order the checkpoint expects (PySlowFast Charades: bgr)",
    )
    parser.add_argument("--mean", type=float, nargs=3, help="input mean per channel")
    parser.add_argument("--std", type=float, nargs=3, help="input std per channel")
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="let torch fully unpickle a file that holds objects the safe reader "
        "refuses (runs code stored in the file: only for files you trust; no "
        "zoo file needs it)",
    )


def _output_kind(path):
    if path.endswith(".keras"):
        return "keras"
    if path.endswith(".weights.h5"):
        return "weights"
    raise ValueError(f"output={path!r} must end with .keras or .weights.h5")


def run(args):
    import json
    import os

    from keras_slowfast.convert import convert_checkpoint
    from keras_slowfast.models import count_params

    kind = _output_kind(args.output)
    overrides = {}
    if args.alpha is not None:
        overrides["alpha"] = args.alpha
    if args.num_frames is not None:
        overrides["num_frames"] = args.num_frames
    convention = {}
    for name in ("mean", "std", "channel_order"):
        if getattr(args, name) is not None:
            convention[name] = getattr(args, name)
    if convention:
        overrides["input_convention"] = convention
    model = convert_checkpoint(
        args.checkpoint,
        source=args.source,
        preset=args.preset,
        num_classes=args.num_classes,
        trust_checkpoint=args.trust_checkpoint,
        **overrides,
    )
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    if kind == "keras":
        model.save(args.output)
    else:
        model.save_weights(args.output)
        config_path = args.output[: -len(".weights.h5")] + ".config.json"
        with open(config_path, "w", encoding="utf-8") as file:
            json.dump(model.get_config(), file, indent=1)
        print(f"architecture: {config_path} (keras_slowfast.load_model reads it)")
    backbone = getattr(model, "backbone", model)
    print(
        f"wrote {args.output}: {count_params(model):,d} parameters, "
        f"stage_depths={backbone.stage_depths}, alpha={backbone.alpha}, "
        f"num_frames={backbone.num_frames}, "
        f"num_classes={getattr(model, 'num_classes', None)}, "
        f"input_convention={getattr(model, 'input_convention', None)}"
    )
    return 0
