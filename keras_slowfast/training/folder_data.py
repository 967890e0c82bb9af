"""Class-per-folder video trees (Kinetics layout) as training / validation datasets.

``root/<class name>/<video file>``; class indices follow the sorted folder
names. When the package's video pipeline (``keras_slowfast.data.datasets``:
random clip sampling, scale jitter, crops, flips) is installed it is used;
otherwise a simple reader stands in: one clip of ``num_frames`` frames spread
uniformly over each video, resized to ``crop_size``, through a ``tf.data``
generator. Unreadable videos are skipped with one warning each.
"""

import logging
import os

import cv2
import numpy as np
import tensorflow as tf

from keras_slowfast.data.decode import VideoDecodeError, probe_video, read_frames

logger = logging.getLogger("keras_slowfast")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")
MEAN, STD = 0.45, 0.225


def list_folder(root):
    """``(paths, labels, class_names)`` of a class-per-folder video tree."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"video folder {root} does not exist")
    class_names = sorted(
        d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))
    )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for file in sorted(os.listdir(os.path.join(root, name))):
            if file.lower().endswith(VIDEO_EXTENSIONS):
                paths.append(os.path.join(root, name, file))
                labels.append(label)
    if not paths:
        raise ValueError(
            f"video folder {root} has no videos in class sub-folders "
            f"(expected {root}/<class>/<video>{VIDEO_EXTENSIONS[0]})"
        )
    return paths, labels, class_names


def _simple_dataset(paths, labels, num_frames, crop_size, batch_size, shuffle, seed):
    def clips():
        order = np.arange(len(paths))
        if shuffle:
            np.random.default_rng(seed).shuffle(order)
        for i in order:
            try:
                info = probe_video(paths[i])
                indices = np.linspace(0, info.num_frames - 1, num_frames).astype(int)
                frames = read_frames(paths[i], indices.tolist())
            except VideoDecodeError as error:
                logger.warning("Skipping unreadable video %s", error)
                continue
            frames = np.stack(
                [
                    cv2.resize(f, (crop_size, crop_size), interpolation=cv2.INTER_AREA)
                    for f in frames
                ]
            )
            yield ((frames.astype(np.float32) / 255.0 - MEAN) / STD), labels[i]

    signature = (
        tf.TensorSpec((num_frames, crop_size, crop_size, 3), tf.float32),
        tf.TensorSpec((), tf.int32),
    )
    dataset = tf.data.Dataset.from_generator(clips, output_signature=signature)
    return dataset.batch(batch_size).prefetch(2)


def _pipeline_dataset(root, config, batch_size, training, input_context):
    from keras_slowfast.data import datasets

    data_config = datasets.VideoDataConfig(**config)
    source = datasets.VideoClipDataset.from_folder(root, config=data_config)
    return source.build(training, batch_size, input_context=input_context)


def folder_datasets(config, batch_size, input_context=None):
    """``(train, validation, class_names, steps)`` for ``data: {type: folder}``.

    ``steps`` is the number of training batches per epoch (the schedule's
    unit; skipped videos make the real count smaller).

    Keys: ``train`` (folder), ``validation`` (folder or None); with the video
    pipeline, every other key is a ``VideoDataConfig`` field (``crop_size``
    sets both crop sizes); with the simple reader, ``num_frames`` and
    ``crop_size`` (the rest is ignored).
    """
    config = dict(config)
    train_root = config.pop("train", None)
    if not train_root:
        raise ValueError("data.train (a class-per-folder video tree) is required")
    validation_root = config.pop("validation", None)
    crop_size = config.pop("crop_size", None)
    paths, labels, class_names = list_folder(train_root)
    steps = max(1, len(paths) // batch_size)
    try:
        import keras_slowfast.data.datasets  # noqa: F401

        have_pipeline = True
    except ImportError:
        have_pipeline = False
    if have_pipeline:
        if crop_size:
            config.setdefault("train_crop_size", crop_size)
            config.setdefault("eval_crop_size", crop_size)
        train = _pipeline_dataset(train_root, config, batch_size, True, input_context)
        validation = (
            _pipeline_dataset(validation_root, config, batch_size, False, input_context)
            if validation_root
            else None
        )
        return train, validation, class_names, steps
    num_frames = int(config.get("num_frames", 32))
    crop_size = int(crop_size or config.get("train_crop_size", 224))
    seed = config.get("seed") or 0
    train = _simple_dataset(
        paths, labels, num_frames, crop_size, batch_size, True, seed
    )
    validation = None
    if validation_root:
        paths, labels, _ = list_folder(validation_root)
        validation = _simple_dataset(
            paths, labels, num_frames, crop_size, batch_size, False, seed
        )
    return train, validation, class_names, steps
