"""Generated videos and a tiny classifier shared by the classify and predict tests."""

import cv2
import keras
import numpy as np

from keras_slowfast.data.decode import read_frames_at
from tests.tiny_models import tiny_classifier

LABELS = ["abseiling", "bowling", "cooking", "dancing", "eating"]
MEAN, STD = 0.45, 0.225
FPS = 10  # the test videos' rate; predictions resample to it (target_fps=FPS)


def write_video(path, num_frames, height=32, width=40, seed=0):
    """An MJPG video of random content moving right, 10 fps."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height)
    )
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        writer.write(np.roll(base, 2 * i, axis=1))  # content moving right
    writer.release()
    return str(path)


def classifier_files(root):
    """A saved tiny classifier, its label file and a 24-frame 32x40 video."""
    keras.utils.set_random_seed(0)
    model = tiny_classifier()
    model.save(root / "tiny.keras")
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return {
        "root": root,
        "model": model,
        "weights": str(root / "tiny.keras"),
        "labels": str(root / "labels.txt"),
        "video": write_video(root / "clip.avi", 24),
    }


def clip_probabilities(model, path, start):
    """The model on the window starting at frame ``start``, preprocessed
    independently with numpy."""
    frames = read_frames_at(path, (start + 2 * np.arange(8)) / FPS)  # stride 2
    # 32x40 frames: short side already 32, so only the center crop (left 4).
    clip = (frames[:, :, 4:36].astype(np.float32) / 255.0 - MEAN) / STD
    logits = model(clip[None], training=False)
    return np.asarray(keras.ops.softmax(logits, axis=-1))[0]
