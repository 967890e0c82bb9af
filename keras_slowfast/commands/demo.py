"""``demo``: the job ``make demo`` runs on built-in generated data."""

HELP = "Build SlowFast R50 8x8, print its size and FLOPs, classify a generated clip."


def add_arguments(parser):
    parser.add_argument("--image-size", type=int, default=224, help="clip size (224)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")


def run(args):
    import numpy as np

    from keras_slowfast.models import SlowFastR50, count_flops, count_params

    model = SlowFastR50(alpha=4, num_classes=400)
    model.summary(line_length=110)
    size = args.image_size
    print(f"parameters: {count_params(model):,d}")
    print(
        f"GFLOPs per 32x{size}x{size} view: {count_flops(model, (32, size, size, 3)) / 1e9:.2f}"
    )
    rng = np.random.default_rng(args.seed)
    clip = rng.normal(size=(1, 32, size, size, 3)).astype("float32")
    probabilities = np.asarray(model.predict(clip, verbose=0))[0]
    top = np.argsort(probabilities)[::-1][:5]
    print("top-5 classes of a random clip (untrained weights):", top.tolist())
    return 0
