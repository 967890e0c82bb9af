"""Search alpha, beta, fusion kernel, learning rate and weight decay with keras-tuner.

    python examples/hyperparameter_search.py --trials 10 --epochs 8
    python examples/hyperparameter_search.py --smoke

Runs ``keras_tuner.RandomSearch`` over ``SlowFastHyperModel`` on the built-in
moving-shape task; replace the two datasets with your own to tune on them.
``--max-steps N`` runs one trial of N training steps (0: build the data and
one trial's model, then stop).
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--directory", default=None, help="tuner state folder")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="one trial of this many steps (0: build the data and a model only)",
    )
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 0:
        parser.error(f"--max-steps {args.max_steps} must be >= 0")

    import keras_tuner

    from keras_slowfast.data import synthetic
    from keras_slowfast.training import TrainingRecipe
    from keras_slowfast.training.tuner import SlowFastHyperModel

    kwargs, clips, space = dict(num_frames=16, image_size=40), 320, None
    if args.smoke:
        kwargs, clips = dict(num_frames=8, image_size=32), 8
        args.trials, args.epochs = 2, 1
        space = {"alpha": [2, 4], "beta_inv": [8], "fusion_kernel_size": [3, 5]}
    train_data = synthetic.make_motion_dataset(clips, seed=0, **kwargs)
    validation = synthetic.make_motion_dataset(max(8, clips // 4), seed=1, **kwargs)
    print(
        f"data: {len(train_data[0])} training clips {train_data[0].shape[1:]}, "
        f"{len(validation[0])} validation clips"
    )
    batch_size = 8
    search = {"epochs": args.epochs}
    if args.max_steps is not None:
        args.trials = 1
        search = {"epochs": 1, "steps_per_epoch": args.max_steps}
    recipe = TrainingRecipe(
        epochs=args.epochs, warmup_epochs=min(1, args.epochs), batch_size=batch_size
    )
    hypermodel = SlowFastHyperModel(
        {
            "stage_depths": [1, 1, 1, 1],
            "num_frames": kwargs["num_frames"],
            "num_classes": len(synthetic.MOTION_CLASSES),
        },
        recipe,
        steps_per_epoch=-(-clips // batch_size),
        search_space=space,
    )
    if args.max_steps == 0:
        from keras_slowfast import count_params

        model = hypermodel.build(keras_tuner.HyperParameters())
        print(f"model: {type(model).__name__}, {count_params(model):,d} parameters")
        return 0
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=args.trials,
        seed=0,
        directory=args.directory or tempfile.mkdtemp(prefix="ksf_tune_"),
        project_name="slowfast",
    )
    tuner.search(
        *train_data,
        validation_data=validation,
        batch_size=batch_size,
        **search,
        verbose=2,
    )
    best = tuner.get_best_hyperparameters(1)[0]
    print("best hyperparameters:", best.values)
    return 0


if __name__ == "__main__":
    sys.exit(main())
