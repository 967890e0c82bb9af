"""``info``: parameter and FLOP counts of a preset (or of every preset)."""

HELP = "Print parameters and GFLOPs of the model presets."


def add_arguments(parser):
    parser.add_argument(
        "preset", nargs="*", help="preset names (default: all); see --list"
    )
    parser.add_argument("--list", action="store_true", help="list preset names")
    parser.add_argument(
        "--image-size", type=int, default=256, help="view height and width (256)"
    )
    parser.add_argument("--summary", action="store_true", help="print model summaries")


def run(args):
    from keras_slowfast.models import count_flops, count_params, from_preset
    from keras_slowfast.models.presets import preset_names, preset_reference

    if args.list:
        for name in preset_names():
            print(f"{name:28s} {preset_reference(name)}")
        return 0
    names = args.preset or preset_names()
    print(f"{'preset':28s} {'params':>12s} {'GFLOPs':>8s} {'input':>18s}")
    for name in names:
        model = from_preset(name)
        shape = (model.num_frames, args.image_size, args.image_size, 3)
        if args.summary:
            model.summary()
        gflops = count_flops(model, shape) / 1e9
        print(
            f"{name:28s} {count_params(model):>12,d} {gflops:>8.2f} {str(shape):>18s}"
        )
    return 0
