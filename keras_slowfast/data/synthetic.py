"""A built-in synthetic video dataset: moving shapes classified by their motion.

Each clip shows one random shape (disc, square or triangle) of random size and
colour, starting at a random place on a noisy background of random colour, and
moving in a straight line. The class is the motion alone: a direction (left,
right, up, down) times a speed (slow, fast), so the appearance of any single
frame says nothing about the label.

The frame wraps around (the shape leaving on the right re-enters on the left).
With the default ``image_size=40``, ``num_frames=16`` and speeds ``(1, 4)``
pixels per frame, a Slow pathway with ``alpha=4`` sees frames 0, 5, 10, 15:
between two of them a fast shape moves 20 pixels, half the frame, so left and
right (and up and down) look exactly the same to it. This is temporal aliasing,
the situation the Fast pathway exists for: a model that sees all 16 frames can
tell every class apart, a Slow-only model at ``alpha=4`` at best 6 of 8.

Everything is deterministic: clip ``i`` of a dataset with seed ``s`` is drawn
from ``numpy.random.default_rng([s, i])``.
"""

import os

import cv2
import numpy as np

DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
SPEED_NAMES = ("slow", "fast")
MOTION_CLASSES = tuple(f"{d}_{s}" for s in SPEED_NAMES for d in DIRECTIONS)
SHAPES = ("disc", "square", "triangle")


def _check_positive(value, name):
    if int(value) != value or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _draw_shape(frame, shape, center, size, colour):
    x, y = center
    if shape == "disc":
        cv2.circle(frame, (x, y), size, colour, thickness=-1)
    elif shape == "square":
        cv2.rectangle(frame, (x - size, y - size), (x + size, y + size), colour, -1)
    else:
        points = np.array([[x, y - size], [x - size, y + size], [x + size, y + size]])
        cv2.fillConvexPoly(frame, points.astype(np.int32), colour)


def make_motion_clip(
    label,
    rng,
    *,
    num_frames=16,
    image_size=40,
    speeds=(1, 4),
    noise=8.0,
    shape=None,
):
    """Draws one clip of the moving-shape task.

    Args:
        label: int. Index into ``MOTION_CLASSES``.
        rng: ``numpy.random.Generator``. Source of shape, colour, start, noise.
        num_frames: int. Frames in the clip.
        image_size: int. Height and width; the motion wraps around at the edges.
        speeds: pair of ints. Pixels per frame of the slow and fast classes.
        noise: float. Standard deviation of the per-pixel background noise.
        shape: str or None. One of ``SHAPES``, or None for a random shape.
            The random draws are the same either way, so a fixed shape
            changes nothing else about the clip.

    Returns:
        uint8 array ``(num_frames, image_size, image_size, 3)``, RGB.
    """
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"shape={shape!r} must be one of {SHAPES} or None")
    if not 0 <= int(label) < len(MOTION_CLASSES):
        raise ValueError(f"label={label!r} must be in [0, {len(MOTION_CLASSES)})")
    direction, speed_name = MOTION_CLASSES[int(label)].split("_")
    step = np.array(DIRECTIONS[direction]) * speeds[SPEED_NAMES.index(speed_name)]
    drawn = SHAPES[rng.integers(len(SHAPES))]
    shape = drawn if shape is None else shape
    half = int(rng.integers(image_size // 10 + 2, image_size // 5 + 3))
    colour = rng.integers(128, 256, size=3)
    background = rng.integers(0, 96, size=3)
    start = rng.integers(0, image_size, size=2)
    clip = np.empty((num_frames, image_size, image_size, 3), np.uint8)
    for t in range(num_frames):
        canvas = np.zeros((image_size, image_size, 3), np.float32)
        canvas[:] = background
        center = (start + t * step) % image_size
        # Drawing the shape at the 9 torus offsets makes it wrap around.
        for dx in (-image_size, 0, image_size):
            for dy in (-image_size, 0, image_size):
                _draw_shape(
                    canvas,
                    shape,
                    (int(center[0] + dx), int(center[1] + dy)),
                    half,
                    tuple(float(c) for c in colour),
                )
        canvas += rng.normal(0.0, noise, size=canvas.shape)
        clip[t] = np.clip(canvas, 0, 255).astype(np.uint8)
    return clip


def normalize_clip(clip, preprocessor=None):
    """uint8 RGB clip(s) -> float32 model input, as a NumPy array.

    Args:
        clip: uint8 array ``(..., 3)``, RGB.
        preprocessor: the model's ``VideoPreprocessor``
            (``preprocessor_of(model)``); None for the default 0.45 / 0.225
            RGB convention.
    """
    if preprocessor is None:
        # Imported here: generating uint8 clips needs neither Keras nor its
        # backend.
        from keras_slowfast.models.preprocessor import VideoPreprocessor

        preprocessor = VideoPreprocessor()
    return np.asarray(preprocessor.normalize(np.asarray(clip, np.uint8)))


def make_motion_dataset(
    num_clips,
    *,
    seed=0,
    num_frames=16,
    image_size=40,
    speeds=(1, 4),
    noise=8.0,
    normalize=True,
):
    """Generates ``num_clips`` clips of the moving-shape task as NumPy arrays.

    Labels cycle through the 8 classes (``i % 8``) so every split is balanced.

    Args:
        num_clips: int. Number of clips.
        seed: int. Dataset seed; different seeds give disjoint random draws.
        num_frames: int. Frames per clip.
        image_size: int. Height and width.
        speeds: pair of ints. Pixels per frame of the slow and fast classes.
        noise: float. Background noise standard deviation.
        normalize: bool. Return model-ready float32 clips (see
            :func:`normalize_clip`) instead of uint8.

    Returns:
        ``(clips, labels)``: clips ``(num_clips, num_frames, image_size,
        image_size, 3)`` and int32 labels ``(num_clips,)``.

    Examples:
    >>> clips, labels = make_motion_dataset(16, seed=1)
    """
    num_clips = _check_positive(num_clips, "num_clips")
    num_frames = _check_positive(num_frames, "num_frames")
    image_size = _check_positive(image_size, "image_size")
    if len(speeds) != 2 or min(speeds) < 0:
        raise ValueError(
            f"speeds={speeds!r} must be two non-negative ints (slow, fast)"
        )
    labels = np.arange(num_clips, dtype=np.int32) % len(MOTION_CLASSES)
    clips = np.stack(
        [
            make_motion_clip(
                label,
                np.random.default_rng([int(seed), i]),
                num_frames=num_frames,
                image_size=image_size,
                speeds=speeds,
                noise=noise,
            )
            for i, label in enumerate(labels)
        ]
    )
    return (normalize_clip(clips) if normalize else clips), labels


def motion_dataset(num_clips, *, batch_size=8, shuffle=True, seed=0, **kwargs):
    """The moving-shape task as a batched ``tf.data.Dataset`` of (clip, label).

    Args:
        num_clips: int. Clips in the dataset (generated once, held in memory).
        batch_size: int. Batch size.
        shuffle: bool. Reshuffle every epoch (with a fixed seed).
        seed: int. Dataset and shuffle seed.
        **kwargs: see :func:`make_motion_dataset`.
    """
    import tensorflow as tf

    clips, labels = make_motion_dataset(num_clips, seed=seed, **kwargs)
    dataset = tf.data.Dataset.from_tensor_slices((clips, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(2)


def write_motion_videos(
    directory, clips_per_class, *, seed=0, fps=16, extension=".avi", **kwargs
):
    """Writes the moving-shape task as a Kinetics-style folder of video files.

    The layout is ``directory/<class name>/<class name>_<i>.avi`` (MJPEG, which
    OpenCV always writes), one folder per class, as Kinetics and many user
    datasets are laid out.

    Args:
        directory: str. Output folder (created).
        clips_per_class: int. Videos per class.
        seed: int. Dataset seed.
        fps: int. Frame rate written into the files.
        extension: str. ``".avi"`` (MJPEG) or ``".mp4"`` (mp4v).
        **kwargs: see :func:`make_motion_clip` (``num_frames``, ``image_size``...).

    Returns:
        List of ``(path, label)`` pairs.
    """
    clips_per_class = _check_positive(clips_per_class, "clips_per_class")
    codecs = {".avi": "MJPG", ".mp4": "mp4v"}
    if extension not in codecs:
        raise ValueError(f"extension={extension!r} must be one of {sorted(codecs)}")
    written = []
    for label, name in enumerate(MOTION_CLASSES):
        folder = os.path.join(directory, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(clips_per_class):
            rng = np.random.default_rng([int(seed), label, i])
            clip = make_motion_clip(label, rng, **kwargs)
            path = os.path.join(folder, f"{name}_{i:04d}{extension}")
            size = (clip.shape[2], clip.shape[1])
            writer = cv2.VideoWriter(
                path, cv2.VideoWriter_fourcc(*codecs[extension]), fps, size
            )
            if not writer.isOpened():
                raise ValueError(f"{path}: OpenCV cannot write {extension} files")
            for frame in clip:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            writer.release()
            written.append((path, label))
    return written
