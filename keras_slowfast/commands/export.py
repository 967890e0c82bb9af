"""``export``: write a trained model as a SavedModel, an ONNX file or a TFLite file."""

from keras_slowfast.commands._model_args import add_model_arguments

HELP = (
    "Export a model for deployment: a versioned SavedModel for TF Serving "
    "(DIR/<version>/), an .onnx file or a .tflite file."
)
FORMATS = ("savedmodel", "onnx", "tflite")
# Precisions each format accepts (float16/bfloat16 SavedModels are GPU graphs;
# TFLite's float16 and int8 are weight formats).
FORMAT_PRECISIONS = {
    "savedmodel": ("float32", "float16", "bfloat16"),
    "onnx": ("float32",),
    "tflite": ("float32", "float16", "int8"),
}


def add_arguments(parser):
    add_model_arguments(parser)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="savedmodel",
        help="savedmodel (TF Serving), onnx (ONNX Runtime, TensorRT, OpenVINO; "
        "needs keras_slowfast[onnx]) or tflite (LiteRT)",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="savedmodel: model base directory (TF Serving base path); "
        "onnx/tflite: the .onnx/.tflite file",
    )
    parser.add_argument(
        "--version",
        type=int,
        help="savedmodel: version sub-directory (default: next free number)",
    )
    parser.add_argument(
        "--signature",
        choices=("serving_default", "normalized"),
        default="serving_default",
        help="onnx/tflite: input raw uint8 frames, preprocessed in the graph "
        "(serving_default), or normalized float32 clips",
    )
    parser.add_argument(
        "--short-side",
        type=int,
        help="resize short side to (default: the model's, else 256)",
    )
    parser.add_argument(
        "--crop-size",
        type=int,
        help="center crop side after resizing (default: the model's, else its "
        "image_size, else 224); 0 disables cropping",
    )
    parser.add_argument("--top-k", type=int, default=5, help="top_k outputs (5)")
    parser.add_argument(
        "--precision",
        choices=("float32", "float16", "bfloat16", "int8"),
        default="float32",
        help="savedmodel: compute dtype (float16/bfloat16 serve on GPU); "
        "tflite: float16 weights or int8 dynamic-range quantization (float32)",
    )
    parser.add_argument(
        "--opset", type=int, help="onnx: ONNX opset (default 17, at most 18)"
    )
    parser.add_argument(
        "--allow-flex",
        action="store_true",
        help="tflite: keep ops without a TFLite builtin as Flex ops "
        "(the detector needs it)",
    )
    parser.add_argument(
        "--box-format",
        choices=("pixels", "normalized"),
        default="pixels",
        help="box coordinates a detection model expects (pixels)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing version or file"
    )


def _check_format_options(args):
    allowed = FORMAT_PRECISIONS[args.format]
    if args.precision not in allowed:
        raise ValueError(
            f"--precision {args.precision} is not available for --format "
            f"{args.format} (choose from {', '.join(allowed)})"
        )
    for option, value, format_ in (
        ("--version", args.version, "savedmodel"),
        ("--opset", args.opset, "onnx"),
        ("--allow-flex", args.allow_flex or None, "tflite"),
    ):
        if value is not None and args.format != format_:
            raise ValueError(f"{option} applies to --format {format_} only")


def run(args):
    import os

    from keras_slowfast.commands._model_args import load_model_from_args
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    # Cheap checks first, so a typo does not wait for the model to load.
    VideoPreprocessor(short_side=args.short_side, crop_size=args.crop_size or None)
    _check_format_options(args)
    if args.format == "savedmodel" and args.version is not None:
        target = os.path.join(args.output, str(args.version))
    else:
        target = args.output if args.format != "savedmodel" else None
    if target is not None and os.path.exists(target) and not args.overwrite:
        raise ValueError(f"{target} already exists; pass --overwrite")
    model = load_model_from_args(args)
    common = dict(
        short_side=args.short_side,
        crop_size=args.crop_size,
        labels=args.labels,
        top_k=args.top_k,
        box_format=args.box_format,
        overwrite=args.overwrite,
    )
    if args.format == "onnx":
        from keras_slowfast.export.onnx import DEFAULT_OPSET, export_onnx

        opset = DEFAULT_OPSET if args.opset is None else args.opset
        path = export_onnx(
            model, args.output, signature=args.signature, opset=opset, **common
        )
        print(f"exported {path} (ONNX opset {opset}, input: {args.signature})")
        return 0
    if args.format == "tflite":
        from keras_slowfast.export.tflite import export_tflite

        path = export_tflite(
            model,
            args.output,
            signature=args.signature,
            precision=args.precision,
            allow_flex=args.allow_flex,
            **common,
        )
        print(f"exported {path} (TFLite {args.precision}, input: {args.signature})")
        return 0
    from keras_slowfast.export import export_saved_model

    target = export_saved_model(
        model, args.output, version=args.version, precision=args.precision, **common
    )
    print(f"exported {target} (signatures: serving_default, normalized)")
    return 0
