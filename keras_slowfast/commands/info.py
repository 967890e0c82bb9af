"""``info``: the pretrained presets, and parameter / FLOP counts of architectures."""

HELP = "List the pretrained presets; print parameters and GFLOPs of the presets."


def add_arguments(parser):
    parser.add_argument(
        "preset", nargs="*", help="architecture preset names (default: all); see --list"
    )
    parser.add_argument("--list", action="store_true", help="list preset names")
    parser.add_argument(
        "--weights",
        action="store_true",
        help="list only the pretrained (weighted) presets, without building models",
    )
    parser.add_argument(
        "--image-size", type=int, default=256, help="view height and width (256)"
    )
    parser.add_argument("--summary", action="store_true", help="print model summaries")


def weighted_table():
    """Lines describing every weighted preset (no model is built)."""
    import os

    from keras_slowfast.models.pretrained import converted_path
    from keras_slowfast.models.zoo import ZOO

    lines = [
        f"{'pretrained preset':38s} {'dataset':22s} {'clip':>9s} "
        f"{'zoo accuracy':>13s} {'params':>7s} {'size':>7s}  cached"
    ]
    for name in sorted(ZOO):
        entry = ZOO[name]
        params = entry["parameters"]
        cached = converted_path(name)
        state = (
            f"{os.path.getsize(cached) / 2**20:.0f} MiB"
            if os.path.isfile(cached)
            else "no"
        )
        clip = f"{entry['num_frames']}x{entry['sampling_rate']}"
        lines.append(
            f"{name:38s} {entry['dataset'].split(' (')[0]:22s} {clip:>9s} "
            f"{entry['accuracy']:>13s} {params / 1e6:>6.2f}M "
            f"{params * 4 / 2**20:>4.0f} MiB  {state}"
        )
    lines.append(
        "clip: frames x sampling rate at 30 fps; size: float32 weights; accuracy: "
        "top-1 / top-5 or mAP as the zoo reports it"
    )
    return lines


def run(args):
    from keras_slowfast.models.presets import preset_names, preset_reference

    if args.list:
        for name in preset_names():
            print(f"{name:28s} {preset_reference(name)}")
        return 0
    if args.weights or not args.preset:
        print("\n".join(weighted_table()))
        print(
            "load one with keras_slowfast.load_model(NAME) or --weights NAME "
            "(downloaded and converted once, then cached)"
        )
        if args.weights:
            return 0
        print()
    from keras_slowfast.models import count_flops, count_params, from_preset

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
