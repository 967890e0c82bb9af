"""Grad-CAM of a model trained here on the moving-shape task, and the CLI."""

import os

import cv2
import keras
import numpy as np
import pytest

from keras_slowfast import cli
from keras_slowfast.data import synthetic
from keras_slowfast.explain import grad_cam
from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training import trainer
from keras_slowfast.training.recipe import TrainingRecipe

SIZE = 32
FRAMES = 16


@pytest.fixture(scope="module")
def motion_model():
    """The demo's small SlowFast, trained on 32x32 clips (about 40 s on 2 cores).

    res4 and res5 keep stride 8 (``spatial_strides=[1, 2, 1, 1]``) so the last
    stage's maps are 4x4 instead of 1x1 and a heat map can point somewhere.
    """
    keras.utils.set_random_seed(0)
    model = classifier_from_arguments(
        stage_depths=[1, 1, 1, 1],
        alpha=4,
        beta_inv=8,
        num_frames=FRAMES,
        num_classes=len(synthetic.MOTION_CLASSES),
        spatial_strides=[1, 2, 1, 1],
    )
    data = synthetic.make_motion_dataset(160, seed=0, image_size=SIZE)
    recipe = TrainingRecipe(epochs=6, warmup_epochs=1, batch_size=16)
    trainer.train(model, data, recipe=recipe, verbose=0)
    held_out, labels = synthetic.make_motion_dataset(64, seed=99, image_size=SIZE)
    accuracy = float(np.mean(model.predict(held_out, verbose=0).argmax(-1) == labels))
    print(f"motion model held-out accuracy {accuracy:.2f}")
    assert accuracy >= 0.8
    return model


def _square_clip(index):
    """A held-out clip of a moving square, and per frame the square's pixels
    grown by 2 pixels (a quarter of a feature cell at stride 8): a peak on the
    square's edge, where the motion is, counts as on the square."""
    label = index % len(synthetic.MOTION_CLASSES)
    kwargs = {"image_size": SIZE, "num_frames": FRAMES, "shape": "square"}
    clip = synthetic.make_motion_clip(
        label, np.random.default_rng([7, index]), **kwargs
    )
    # The same draws without noise: the square is where the colour (every
    # channel >= 128) is, the background is below 96.
    clean = synthetic.make_motion_clip(
        label, np.random.default_rng([7, index]), noise=0.0, **kwargs
    )
    square = (clean.min(axis=-1) >= 128).astype(np.uint8)
    grown = [cv2.dilate(frame, np.ones((5, 5), np.uint8)) for frame in square]
    return label, clip, np.stack(grown).astype(bool)


def _peak_on_square(heat, mask):
    """Fraction of frames whose heat-map maximum lies on the square."""
    peaks = heat.reshape(len(heat), -1).argmax(axis=-1)
    return float(mask.reshape(len(mask), -1)[np.arange(len(mask)), peaks].mean())


def test_fast_heat_map_follows_the_moving_square(motion_model):
    rng = np.random.default_rng(0)
    on_square = {"slow": [], "fast": []}
    random_maps, changed = [], []
    for index in range(16):
        label, clip, mask = _square_clip(index)
        normalized = synthetic.normalize_clip(clip)[None]
        result = grad_cam(motion_model, normalized)
        for key in on_square:
            on_square[key].append(_peak_on_square(result.maps[key][0], mask))
        random_maps.append(_peak_on_square(rng.random(mask.shape), mask))
        # The opposite direction at the same speed: another class, another map.
        other = (label + 2) % 4 + 4 * (label // 4)
        opposite = grad_cam(motion_model, normalized, class_index=other)
        changed.append(np.abs(opposite.maps["fast"] - result.maps["fast"]).mean())
    fast, slow = np.mean(on_square["fast"]), np.mean(on_square["slow"])
    chance = np.mean(random_maps)
    print(
        f"heat-map peak on the square: Fast {fast:.2f}, Slow {slow:.2f}, "
        f"random maps {chance:.2f}; mean change for another class "
        f"{np.mean(changed):.3f}"
    )
    assert fast >= 0.5 and fast >= 2 * chance
    assert np.mean(changed) > 0.05


def _write_video(path, clip, fps=30):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, clip.shape[2:0:-1]
    )
    for frame in clip:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


def _read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return np.stack(frames)


def test_explain_command_writes_the_heat_map_video(motion_model, tmp_path, capsys):
    label = synthetic.MOTION_CLASSES.index("right_slow")
    clip = synthetic.make_motion_clip(
        label,
        np.random.default_rng(3),
        image_size=SIZE,
        num_frames=3 * FRAMES,
        shape="square",
    )
    video = tmp_path / "square.avi"
    _write_video(video, clip)
    weights = tmp_path / "motion.keras"
    motion_model.save(weights)
    names = tmp_path / "labels.txt"
    names.write_text("\n".join(synthetic.MOTION_CLASSES))
    out, frames_dir = tmp_path / "heat.mp4", tmp_path / "frames"
    common = [
        "explain", str(video), "--weights", str(weights), "--labels", str(names),
        "--short-side", str(SIZE), "--crop-size", str(SIZE), "--sampling-rate",
        "1", "--quiet",
    ]  # fmt: skip
    assert cli.main([*common, "--out", str(out), "--frames-out", str(frames_dir)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    windows = [line.split()[1] for line in lines[:-1]]
    assert len(windows) == 3  # 48 frames at 30 fps, 16-frame windows
    assert windows.count("right_slow") >= 2
    assert lines[-1] == f"wrote 48 frames to {out} and {frames_dir}"
    written = _read_video(out)
    # Two panels (Slow, Fast) of the 32-pixel crop enlarged 7x, a caption band.
    assert written.shape == (48, 22 + 224, 2 * 224, 3)
    pngs = sorted(os.listdir(frames_dir))
    assert len(pngs) == 48 and pngs[0] == "window0000_frame000.png"
    assert cv2.imread(str(frames_dir / pngs[0])).shape == (246, 448, 3)

    assert (
        cli.main([*common, "--class", "up_fast", "--frames-out", str(frames_dir)]) == 0
    )
    explained = [line.split()[1] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert explained == ["up_fast"] * 3
    assert cli.main([*common, "--class", "sideways", "--out", str(out)]) == 2
    assert (
        "class 'sideways' is neither a class name nor an id" in capsys.readouterr().err
    )
