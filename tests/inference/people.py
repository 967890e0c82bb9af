"""A generated video of two walking stick figures, and a tiny box scorer."""

import cv2
import keras
import numpy as np

WIDTH, HEIGHT, FPS, FRAMES = 160, 120, 10, 20


def draw_figure(frame, x, y, phase):
    """A stick person: head, body, swinging arms and legs (BGR dark grey)."""
    color = (40, 40, 40)
    cv2.circle(frame, (x, y), 6, color, -1)
    cv2.line(frame, (x, y + 6), (x, y + 40), color, 4)
    swing = int(10 * np.sin(phase))
    cv2.line(frame, (x, y + 14), (x - 12, y + 28 + swing), color, 3)
    cv2.line(frame, (x, y + 14), (x + 12, y + 28 - swing), color, 3)
    cv2.line(frame, (x, y + 40), (x - 8 - swing, y + 70), color, 3)
    cv2.line(frame, (x, y + 40), (x + 8 + swing, y + 70), color, 3)


def person_box(x, y):
    """The pixel box ``(x1, y1, x2, y2)`` around a figure drawn at ``(x, y)``."""
    return (x - 16.0, y - 8.0, x + 16.0, y + 72.0)


def positions(i):
    """Where the two figures are in frame ``i``."""
    return [(30 + 3 * i, 25), (120 - 2 * i, 35)]


def write_people_video(path):
    """A 2 s, 10 fps, 160x120 mp4v video of the two figures walking."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT)
    )
    for i in range(FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
        for x, y in positions(i):
            draw_figure(frame, x, y, i / 2)
        writer.write(frame)
    writer.release()
    return path


def box_scorer(num_frames=8, num_classes=3):
    """A tiny detector ``(video, boxes) -> (batch, boxes, classes)`` scores.

    Each box's scores depend on the clip's per-channel means and on the box,
    so a clip in the wrong channel order or normalization changes them.
    """
    video = keras.Input((num_frames, None, None, 3), name="video")
    boxes = keras.Input((None, 4), name="boxes")
    pooled = keras.ops.mean(video, axis=(1, 2, 3))
    per_box = keras.ops.zeros_like(boxes[..., :1]) + pooled[:, None, :]
    features = keras.layers.Concatenate()([per_box, boxes / 64.0])
    dense = keras.layers.Dense(num_classes, activation="sigmoid", name="scores")
    model = keras.Model([video, boxes], dense(features))
    dense.kernel.assign(
        np.random.default_rng(0).normal(size=dense.kernel.shape).astype("float32")
    )
    return model
