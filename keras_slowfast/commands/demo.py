"""``demo``: the job ``make demo`` runs on built-in generated data.

Trains a small SlowFast and a Slow-only network of the same width on the
built-in moving-shape task (``keras_slowfast.data.synthetic``: 8 classes =
direction x speed), with the reference recipe shortened to a few epochs,
prints both held-out accuracies side by side and classifies a new clip.
"""

HELP = (
    "Train a small SlowFast and a Slow-only model on generated motion clips, "
    "compare them, classify a new clip (a few minutes on CPU)."
)


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=8, help="training epochs (8)")
    parser.add_argument(
        "--train-clips", type=int, default=320, help="training clips (320)"
    )
    parser.add_argument(
        "--test-clips", type=int, default=160, help="held-out clips (160)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument(
        "--output-dir",
        default=None,
        help="also write evaluation reports (PNG, CSV) here",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _small(pathways, num_classes):
    from keras_slowfast.models.factories import classifier_from_arguments

    # Same stages and widths for both; Slow-only reads num_frames // alpha frames.
    return classifier_from_arguments(
        stage_depths=[1, 1, 1, 1],
        pathways=pathways,
        alpha=4,
        beta_inv=8,
        num_frames=16,
        num_classes=num_classes,
        name=f"{pathways}_small",
    )


def run(args):
    import os
    import time

    import keras
    import numpy as np

    from keras_slowfast.data import synthetic
    from keras_slowfast.models.preprocessor import preprocessor_of
    from keras_slowfast.training import trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    if args.epochs < 1 or args.train_clips < 8 or args.test_clips < 8:
        raise ValueError("--epochs must be >= 1 and --train-clips/--test-clips >= 8")
    start = time.time()
    names = synthetic.MOTION_CLASSES
    print(f"Generating the moving-shape task: {len(names)} classes {list(names)}")
    train_clips, train_labels = synthetic.make_motion_dataset(
        args.train_clips, seed=args.seed, normalize=False
    )
    test_clips, test_labels = synthetic.make_motion_dataset(
        args.test_clips, seed=args.seed + 1_000_003, normalize=False
    )
    print(
        f"  {args.train_clips} training clips, {args.test_clips} held-out clips, "
        "16 frames of 40x40 each"
    )
    # The reference recipe (SGD Nesterov, LR 0.1 per 64 clips, warm-up + cosine,
    # weight decay 1e-4 off BN and biases, dropout 0.5), shortened.
    recipe = TrainingRecipe(
        epochs=args.epochs, warmup_epochs=1, batch_size=args.batch_size
    )
    verbose = 0 if args.quiet else 2
    results = {}
    models = {}
    for pathways, label in (("slowfast", "SlowFast"), ("slow", "Slow-only")):
        keras.utils.set_random_seed(args.seed)
        model = _small(pathways, len(names))
        preprocessor = preprocessor_of(model)
        train_data = (synthetic.normalize_clip(train_clips, preprocessor), train_labels)
        test_data = (synthetic.normalize_clip(test_clips, preprocessor), test_labels)
        frames = "Fast 16 + Slow 4 frames" if pathways == "slowfast" else "4 frames"
        print(f"\nTraining {label} ({model.count_params():,d} weights, sees {frames})")
        tick = time.time()
        trainer.train(model, train_data, recipe=recipe, verbose=verbose)
        report_dir = (
            os.path.join(args.output_dir, pathways) if args.output_dir else None
        )
        results[label] = trainer.evaluate(
            model, test_data, class_names=list(names), output_dir=report_dir
        )
        results[label]["seconds"] = time.time() - tick
        models[label] = model

    print("\nHeld-out accuracy on the moving-shape task:")
    print(f"  {'model':<10} {'top-1':>7} {'top-5':>7} {'train s':>8}")
    for label, r in results.items():
        print(f"  {label:<10} {r['top1']:>7.1%} {r['top5']:>7.1%} {r['seconds']:>8.0f}")
    gap = results["SlowFast"]["top1"] - results["Slow-only"]["top1"]
    print(f"  SlowFast - Slow-only: {gap:+.1%} top-1")

    rng = np.random.default_rng(args.seed + 7)
    label = int(rng.integers(len(names)))
    model = models["SlowFast"]
    clip = synthetic.make_motion_clip(label, rng)[None]
    clip = synthetic.normalize_clip(clip, preprocessor_of(model))
    logits = np.asarray(model.predict(clip, verbose=0))[0]
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    top = np.argsort(-probabilities)[:3]
    print(f"\nA new generated clip (true class: {names[label]}), SlowFast says:")
    for k in top:
        print(f"  {names[k]:<12} {probabilities[k]:.1%}")
    print(f"\ndemo finished in {time.time() - start:.0f} s")
    return 0
