"""``export``: write a trained model as a TF Serving SavedModel (``DIR/<version>/``)."""

from keras_slowfast.commands._model_args import add_model_arguments

HELP = "Export a model as a versioned SavedModel for TF Serving (DIR/<version>/)."


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument(
        "--output", required=True, help="model base directory (TF Serving base path)"
    )
    parser.add_argument(
        "--version", type=int, help="version sub-directory (default: next free number)"
    )
    parser.add_argument(
        "--short-side", type=int, default=256, help="resize short side to (256)"
    )
    parser.add_argument(
        "--crop-size",
        type=int,
        default=224,
        help="center crop side after resizing (224); 0 disables cropping",
    )
    parser.add_argument("--top-k", type=int, default=5, help="top_k outputs (5)")
    parser.add_argument(
        "--precision",
        choices=("float32", "float16", "bfloat16"),
        default="float32",
        help="compute dtype of the exported graph (float32; float16 serves on GPU)",
    )
    parser.add_argument(
        "--box-format",
        choices=("pixels", "normalized"),
        default="pixels",
        help="box coordinates a detection model expects (pixels)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing version"
    )


def run(args):
    import os

    from keras_slowfast.commands._model_args import load_model_from_args
    from keras_slowfast.export import export_saved_model
    from keras_slowfast.export.preprocessing import check_sizes

    # Cheap checks first, so a typo does not wait for the model to load.
    check_sizes(args.short_side, args.crop_size or None)
    if args.version is not None and not args.overwrite:
        target = os.path.join(args.output, str(args.version))
        if os.path.exists(target):
            raise ValueError(f"{target} already exists; pass --overwrite")
    model = load_model_from_args(args)
    target = export_saved_model(
        model,
        args.output,
        version=args.version,
        short_side=args.short_side,
        crop_size=args.crop_size or None,
        labels=args.labels,
        top_k=args.top_k,
        precision=args.precision,
        box_format=args.box_format,
        overwrite=args.overwrite,
    )
    print(f"exported {target} (signatures: serving_default, normalized)")
    return 0
