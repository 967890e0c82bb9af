"""Multi-label training and mAP (the Charades recipe: sigmoid + BCE, mAP).

    python examples/charades_multilabel.py [--epochs 8 --train-clips 320]
    python examples/charades_multilabel.py --smoke

Charades videos carry several action labels each; the model ends in one
sigmoid per class, is trained with binary cross-entropy and scored with mAP
over the classes that have a positive (``evaluation.mean_average_precision``).
For real Charades data build a dataset of ``(clip, multi-hot)`` batches (the
package's tf.data pipeline reads ``path 3,17,42`` lists) and pass it to
``train``. Here the data is a multi-label version of the moving-shape task:
each clip is tagged with its direction AND its speed (6 tags, 2 per clip).
``--max-steps N`` stops after N training steps (0: build the model and the
data, then stop); ``--smoke`` is a tiny run.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TAGS = ["left", "right", "up", "down", "slow", "fast"]


def multi_label_motion(num_clips, seed, **kwargs):
    import numpy as np

    from keras_slowfast.data import synthetic

    clips, labels = synthetic.make_motion_dataset(num_clips, seed=seed, **kwargs)
    targets = np.zeros((num_clips, len(TAGS)), np.float32)
    for i, label in enumerate(labels):
        direction, speed = synthetic.MOTION_CLASSES[label].split("_")
        targets[i, TAGS.index(direction)] = targets[i, TAGS.index(speed)] = 1
    return clips, targets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-clips", type=int, default=320)
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
    from keras_slowfast.training import TrainingRecipe, train, trainer

    kwargs = dict(num_frames=16, image_size=40)
    epochs, clips = args.epochs, args.train_clips
    if args.smoke:
        kwargs, epochs, clips = dict(num_frames=8, image_size=32), 1, 8
    train_data = multi_label_motion(clips, 0, **kwargs)
    validation = multi_label_motion(max(8, clips // 4), 1, **kwargs)
    backbone = ks.SlowFastBackbone(
        stage_depths=[1, 1, 1, 1], alpha=4, num_frames=kwargs["num_frames"]
    )
    model = ks.SlowFastVideoClassifier(backbone, num_classes=len(TAGS))
    print(
        f"model: {type(model).__name__}, {ks.count_params(model):,d} parameters, "
        f"{model.num_classes} classes"
    )
    print(
        f"data: {len(train_data[0])} training clips {train_data[0].shape[1:]}, "
        f"{len(validation[0])} validation clips, targets {train_data[1].shape[1:]}"
    )
    if args.max_steps == 0:
        return 0
    recipe = TrainingRecipe(
        epochs=1 if args.max_steps else epochs,
        warmup_epochs=min(1, epochs),
        batch_size=8,
        multi_label=True,
    )
    train(
        model,
        train_data,
        validation_data=validation,
        recipe=recipe,
        steps_per_epoch=args.max_steps,
        verbose=2,
    )
    results = trainer.evaluate(model, validation, multi_label=True, class_names=TAGS)
    print(f"validation mAP: {results['mAP']:.3f} over {results['num_videos']} clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
