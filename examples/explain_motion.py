"""Grad-CAM of a small SlowFast trained on moving shapes: the picture in the README.

    python examples/explain_motion.py --out examples/grad_cam_motion.png

Trains the demo's small SlowFast (``stage_depths=[1, 1, 1, 1]``, 16 frames,
``alpha=4``) on the built-in moving-shape task (``keras_slowfast.data.
synthetic``: the class is the direction and speed of a shape), with res4 and
res5 at stride 8 so the last stage's maps are 4x4 instead of 1x1. Then it
explains new clips with ``keras_slowfast.explain.grad_cam`` and saves one
picture: per clip, a few frames, each with the Slow and the Fast heat map of
the predicted class. Optionally it also writes one clip as a heat-map video
through ``explain_video`` (what ``python -m keras_slowfast explain`` does).
About a minute on 2 CPU cores; ``--smoke`` runs in seconds (untrained maps),
``--max-steps N`` trains N steps only (0: explains the untrained model).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SIZE = 32
FRAMES = 16
# (class, shape) of the clips in the picture.
SHOWN = (("right_fast", "square"), ("down_slow", "disc"))


def build_and_train(num_clips, epochs, seed, max_steps=None):
    """The model, trained for ``epochs`` (or ``max_steps`` steps, 0: untrained)."""
    import keras

    import keras_slowfast as ks
    from keras_slowfast.data import synthetic
    from keras_slowfast.training import trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    keras.utils.set_random_seed(seed)
    backbone = ks.SlowFastBackbone(
        stage_depths=[1, 1, 1, 1],
        alpha=4,
        beta_inv=8,
        num_frames=FRAMES,
        spatial_strides=[1, 2, 1, 1],
    )
    model = ks.SlowFastVideoClassifier(
        backbone, num_classes=len(synthetic.MOTION_CLASSES)
    )
    data = synthetic.make_motion_dataset(num_clips, seed=seed, image_size=SIZE)
    print(
        f"model: {type(model).__name__}, {ks.count_params(model):,d} parameters; "
        f"data: {len(data[0])} clips {data[0].shape[1:]}"
    )
    if max_steps == 0:
        return model
    recipe = TrainingRecipe(
        epochs=1 if max_steps else epochs, warmup_epochs=1, batch_size=16
    )
    trainer.train(model, data, recipe=recipe, steps_per_epoch=max_steps, verbose=2)
    return model


def picture(model, seed, frames_shown=4, scale=3):
    """One row per clip of ``SHOWN``: frames with Slow | Fast heat maps."""
    import numpy as np

    from keras_slowfast.data import synthetic
    from keras_slowfast.explain import grad_cam, overlay
    from keras_slowfast.models.preprocessor import preprocessor_of

    preprocessor = preprocessor_of(model)
    rows = []
    for number, (name, shape) in enumerate(SHOWN):
        rng = np.random.default_rng([seed, 1000 + number])
        label = synthetic.MOTION_CLASSES.index(name)
        clip = synthetic.make_motion_clip(
            label, rng, image_size=SIZE, num_frames=FRAMES, shape=shape
        )
        result = grad_cam(model, synthetic.normalize_clip(clip[None], preprocessor))
        predicted = synthetic.MOTION_CLASSES[int(result.class_index[0])]
        picks = np.linspace(0, FRAMES - 1, frames_shown).round().astype(int)
        panels = overlay.panels(
            clip[picks],
            {key: heat[0][picks] for key, heat in result.maps.items()},
            f"{name} -> {predicted}",
            scale=scale,
        )
        rows.append(overlay.frame_grid(panels, columns=len(panels)))
        print(f"{shape} moving {name}: predicted {predicted}")
    return np.concatenate(rows, axis=0)


def write_video(model, path, seed):
    """A moving-square video explained window by window (the CLI's path)."""
    import cv2
    import numpy as np

    from keras_slowfast.data import synthetic
    from keras_slowfast.explain.video import explain_video

    clip = synthetic.make_motion_clip(
        synthetic.MOTION_CLASSES.index("up_fast"),
        np.random.default_rng(seed),
        image_size=SIZE,
        num_frames=3 * FRAMES,
        shape="square",
    )
    source = os.path.splitext(path)[0] + "_input.avi"
    writer = cv2.VideoWriter(source, cv2.VideoWriter_fourcc(*"MJPG"), 30, (SIZE, SIZE))
    for frame in clip:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    result = explain_video(
        model,
        source,
        path,
        labels=list(synthetic.MOTION_CLASSES),
        sampling_rate=1,
        short_side=SIZE,
        crop_size=SIZE,
        verbose=0,
    )
    print(f"wrote {result['frames']} frames to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train-clips", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="grad_cam_motion.png", help="the PNG")
    parser.add_argument("--video", help="also write a heat-map video (.mp4)")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="train this many steps only (0: explain the untrained model)",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds, untrained")
    args = parser.parse_args(argv)
    if args.max_steps is not None and args.max_steps < 0:
        parser.error(f"--max-steps {args.max_steps} must be >= 0")
    if args.smoke:
        args.epochs, args.train_clips = 1, 16
        args.video = args.video or "grad_cam_motion.mp4"

    import cv2

    model = build_and_train(args.train_clips, args.epochs, args.seed, args.max_steps)
    image = picture(model, args.seed)
    if not cv2.imwrite(args.out, image[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    if args.video:
        write_video(model, args.video, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
