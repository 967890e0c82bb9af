"""Fine-tune a converted or saved SlowFast on new classes.

    python examples/finetune_checkpoint.py --weights slowfast_r50.weights.h5 \
        --model-config slowfast_r50.config.json --num-classes 10 \
        --train DIR [--validation DIR] [--freeze-backbone]
    python examples/finetune_checkpoint.py --smoke

``finetune_model`` rebuilds the network with a new head for ``--num-classes``
and copies every other layer's weights by name. ``--smoke`` fabricates the
"checkpoint": a tiny 5-class model saved as .weights.h5 + .config.json, then
fine-tunes it to the 8 classes of the built-in moving-shape task.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help=".keras or .weights.h5 file")
    parser.add_argument("--model-config", help="SlowFastNet config JSON (.weights.h5)")
    parser.add_argument("--num-classes", type=int)
    parser.add_argument("--train", help="class-per-folder training videos")
    parser.add_argument("--validation", help="class-per-folder validation videos")
    parser.add_argument("--freeze-backbone", action="store_true")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np

    from keras_slowfast import SlowFastNet
    from keras_slowfast.data import synthetic
    from keras_slowfast.training import finetune_model, train, trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    if args.smoke:
        folder = tempfile.mkdtemp(prefix="ksf_finetune_")
        source = SlowFastNet(
            stage_depths=[1, 1, 1, 1], alpha=4, num_frames=8, num_classes=5
        )
        args.weights = os.path.join(folder, "tiny.weights.h5")
        source.save_weights(args.weights)
        with open(os.path.join(folder, "tiny.config.json"), "w") as handle:
            json.dump(source.get_config(), handle)
        args.num_classes = len(synthetic.MOTION_CLASSES)
        args.freeze_backbone, args.epochs, args.batch_size = True, 1, 4
        kwargs = dict(num_frames=8, image_size=32)
        train_data = synthetic.make_motion_dataset(8, seed=0, **kwargs)
        validation = synthetic.make_motion_dataset(8, seed=1, **kwargs)
    else:
        if not (args.weights and args.num_classes and args.train):
            parser.error("--weights, --num-classes and --train are required")
        recipe = TrainingRecipe(batch_size=args.batch_size)
        data = {"type": "folder", "train": args.train, "validation": args.validation}
        train_data, validation, _, _ = trainer.build_datasets(data, recipe)
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
    print(
        f"new head: {args.num_classes} classes; trainable weights "
        f"{sum(int(np.prod(v.shape)) for v in model.trainable_variables):,d}"
    )
    recipe = TrainingRecipe(
        epochs=args.epochs,
        warmup_epochs=min(1, args.epochs),
        batch_size=args.batch_size,
    )
    history = train(
        model, train_data, validation_data=validation, recipe=recipe, verbose=2
    )
    print("final loss:", round(history.history["loss"][-1], 4))
    if validation is not None:
        print("validation:", trainer.evaluate(model, validation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
