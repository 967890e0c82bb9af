"""Train SlowFast on a Kinetics-style folder of videos: ROOT/<class>/<video>.

    python examples/train_kinetics_folder.py --train DIR --validation DIR \
        --output-dir runs/k400 [--preset slowfast_8x8_r50 --epochs 196 --batch-size 64]
    python examples/train_kinetics_folder.py --train DIR --max-steps 0  # build only
    python examples/train_kinetics_folder.py --smoke   # generated videos, tiny model

The data goes through ``trainer.build_datasets({"type": "folder", ...})``, i.e.
the package's tf.data video pipeline (``keras_slowfast.data.datasets``).
``--max-steps N`` stops after N training steps (0: build the model and the
data pipeline, print them and stop), to try a configuration before a long run.
``--smoke`` writes the built-in moving-shape task as .avi files first.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stop_after(max_steps):
    """A Keras callback that ends training after ``max_steps`` steps."""
    import keras

    class StopAfterSteps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps >= max_steps:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            print(f"trained {self.steps} step(s) (--max-steps {max_steps})")

    return StopAfterSteps()


def describe(model, clips):
    """Prints what was built: the model and the shape of a training batch."""
    from keras_slowfast import count_params

    print(
        f"model: {type(model).__name__}, {count_params(model):,d} parameters, "
        f"{model.num_frames} frames, alpha {model.alpha}, "
        f"{model.num_classes} classes"
    )
    print(f"data: training batches of clips {tuple(clips.shape)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", help="training folder (class sub-folders)")
    parser.add_argument("--validation", help="validation folder")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument(
        "--preset",
        default="slowfast_8x8_r50",
        help="model preset (python -m keras_slowfast info lists them)",
    )
    parser.add_argument("--epochs", type=int, default=196)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-frames", type=int, default=32)
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many training steps (0: build the model and data only)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run on generated videos"
    )
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 0:
        parser.error(f"--max-steps {args.max_steps} must be >= 0")

    from keras_slowfast.data import synthetic
    from keras_slowfast.training import TrainingRecipe, trainer

    if args.smoke:
        scratch = tempfile.mkdtemp(prefix="ksf_kinetics_")
        args.train = os.path.join(scratch, "train")
        args.validation = os.path.join(scratch, "val")
        synthetic.write_motion_videos(
            args.train, 2, seed=0, num_frames=16, image_size=32
        )
        synthetic.write_motion_videos(
            args.validation, 1, seed=1, num_frames=16, image_size=32
        )
        args.output_dir = args.output_dir or os.path.join(scratch, "run")
        model = {
            "stage_depths": [1, 1, 1, 1],
            "alpha": 4,
            "num_frames": 8,
            "num_classes": len(synthetic.MOTION_CLASSES),
        }
        data = {
            "num_frames": 8,
            "sampling_rate": 2,
            "target_fps": None,
            "train_short_side": [32, 32],
            "train_crop_size": 32,
            "eval_short_side": 32,
            "eval_crop_size": 32,
            "num_clips": 1,
            "num_crops": 1,
            "crop_size": 32,
            "seed": 0,
        }
        training = {"epochs": 1, "warmup_epochs": 0, "batch_size": 4}
    else:
        if not args.train:
            parser.error("--train is required (or use --smoke)")
        from keras_slowfast.data.datasets import read_folder_tree

        classes = read_folder_tree(args.train)[2]
        model = {
            "preset": args.preset,
            "num_classes": len(classes),
            "num_frames": args.num_frames,
        }
        data = {
            "num_frames": args.num_frames,
            "crop_size": args.crop_size,
            "train_crop_size": args.crop_size,
        }
        training = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "warmup_epochs": min(34, args.epochs),
        }
    config = {
        "model": model,
        "data": {
            "type": "folder",
            "train": args.train,
            "validation": args.validation,
            **data,
        },
        "training": training,
        "output_dir": args.output_dir,
        "seed": 0,
    }
    if args.max_steps == 0:
        # What train_from_config builds first, without training.
        trainer.check_config(config)
        recipe = TrainingRecipe.from_dict(config["training"])
        train_data, _, _, _ = trainer.build_datasets(config["data"], recipe)
        model = trainer.build_model(config["model"], recipe)
        describe(model, train_data.dataset(0).element_spec[0])
        return 0
    callbacks = [stop_after(args.max_steps)] if args.max_steps else []
    model, history, results = trainer.train_from_config(
        config, verbose=2, callbacks=callbacks
    )
    print("final training loss:", round(history.history["loss"][-1], 4))
    print("validation:", results)
    if args.output_dir:
        print("outputs in", args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
