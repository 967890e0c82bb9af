"""Fine-tune a converted or saved SlowFast on new classes.

    python examples/finetune_checkpoint.py --weights slowfast_8x8_r50.weights.h5 \
        --num-classes 10 --train DIR [--validation DIR] [--freeze-backbone]
    python examples/finetune_checkpoint.py --smoke

``--weights`` is any file ``keras_slowfast.load_model`` reads: a ``.keras``
model, or a ``.weights.h5`` file (what ``python -m keras_slowfast convert``
writes) whose architecture is in ``NAME.config.json`` beside it or in
``--model-config``. ``finetune_model`` copies the backbone's weights and starts
a new head for ``--num-classes``. The clips (from class-per-folder videos) get
the model's ``num_frames`` and input convention, cropped to ``--crop-size``
(default: the model's ``image_size``, else 224). ``--max-steps N`` stops after
N training steps (0: build the model and the data, then stop). ``--smoke``
fabricates the "checkpoint": a tiny 5-class model saved as .weights.h5 +
.config.json, then fine-tunes it to the 8 classes of the built-in moving-shape
task.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def describe(model, clips_shape):
    """Prints what was built: the model and the shape of a training batch."""
    import numpy as np

    from keras_slowfast import count_params

    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    print(
        f"model: {type(model).__name__}, {count_params(model):,d} parameters "
        f"({trainable:,d} trainable), {model.copied_layers} backbone layers "
        f"copied, new head: {model.num_classes} classes"
    )
    print(f"data: training batches of clips {tuple(clips_shape)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help=".keras or .weights.h5 file")
    parser.add_argument(
        "--model-config",
        help="architecture of a .weights.h5 file: a model's get_config() as "
        "JSON (default: NAME.config.json beside the weights)",
    )
    parser.add_argument("--num-classes", type=int)
    parser.add_argument("--train", help="class-per-folder training videos")
    parser.add_argument("--validation", help="class-per-folder validation videos")
    parser.add_argument("--freeze-backbone", action="store_true")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--crop-size", type=int, help="default: the model's image_size, else 224"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="train this many steps only (0: build the model and data only)",
    )
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 0:
        parser.error(f"--max-steps {args.max_steps} must be >= 0")

    import keras_slowfast as ks
    from keras_slowfast.data import synthetic
    from keras_slowfast.training import finetune_model, train, trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    if args.smoke:
        folder = tempfile.mkdtemp(prefix="ksf_finetune_")
        backbone = ks.SlowFastBackbone(stage_depths=[1, 1, 1, 1], alpha=4, num_frames=8)
        source = ks.SlowFastVideoClassifier(backbone, num_classes=5)
        args.weights = os.path.join(folder, "tiny.weights.h5")
        source.save_weights(args.weights)
        with open(os.path.join(folder, "tiny.config.json"), "w") as handle:
            json.dump(source.get_config(), handle)
        args.num_classes = len(synthetic.MOTION_CLASSES)
        args.freeze_backbone, args.epochs, args.batch_size = True, 1, 4
    elif not (args.weights and args.num_classes and args.train):
        parser.error("--weights, --num-classes and --train are required")
    config = None
    if args.model_config:
        with open(args.model_config) as handle:
            config = json.load(handle)
    model = finetune_model(
        args.weights,
        args.num_classes,
        freeze_backbone=args.freeze_backbone,
        config=config,
    )
    recipe = TrainingRecipe(
        epochs=1 if args.max_steps else args.epochs,
        warmup_epochs=min(1, args.epochs),
        batch_size=args.batch_size,
    )
    if args.smoke:
        kwargs = dict(num_frames=model.num_frames, image_size=32)
        train_data = synthetic.make_motion_dataset(8, seed=0, **kwargs)
        validation = synthetic.make_motion_dataset(8, seed=1, **kwargs)
        clips_shape = (args.batch_size, *train_data[0].shape[1:])
    else:
        crop_size = args.crop_size or (model.image_size or [224])[0]
        data = {
            "type": "folder",
            "train": args.train,
            "validation": args.validation,
            "num_frames": model.num_frames,
            "crop_size": crop_size,
            "input_convention": model.input_convention,
        }
        train_data, validation, _, _ = trainer.build_datasets(data, recipe)
        clips_shape = train_data.dataset(0).element_spec[0].shape
    describe(model, clips_shape)
    if args.max_steps == 0:
        return 0
    history = train(
        model,
        train_data,
        validation_data=validation,
        recipe=recipe,
        steps_per_epoch=args.max_steps,
        verbose=2,
    )
    steps = "" if args.max_steps is None else f" after {args.max_steps} step(s)"
    print(f"final loss{steps}:", round(history.history["loss"][-1], 4))
    if validation is not None:
        print("validation:", trainer.evaluate(model, validation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
