"""Class-per-folder video trees (Kinetics layout) as training / validation datasets.

``root/<class name>/<video file>``; class indices follow the sorted folder
names. The clips come from the package's tf.data pipeline
(``keras_slowfast.data.datasets``: random clip sampling, scale jitter, crops
and flips for training; uniform clips and crops for validation). Unreadable
videos are skipped with one warning each and counted by the pipeline.
"""

import numpy as np

from keras_slowfast.data import datasets


class VideoEpochs:
    """The training videos of a folder tree, one epoch at a time.

    ``dataset(epoch, skip_batches)`` is ``VideoClipDataset.build(True, ...,
    epoch=epoch, seed=self.seed, skip_batches=skip_batches)``: each epoch's
    order and clip augmentations come from ``(seed, epoch)``, so ``train``
    can resume an epoch at the batch it reached. ``seed`` is the config's
    ``seed``, or a random one that the run's backup keeps.
    """

    def __init__(self, source, batch_size, input_context=None):
        self.source = source
        self.batch_size = int(batch_size)
        self.input_context = input_context
        seed = source.config.seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = int(seed)

    def dataset(self, epoch, skip_batches=0):
        return self.source.build(
            True,
            self.batch_size,
            input_context=self.input_context,
            epoch=epoch,
            seed=self.seed,
            skip_batches=skip_batches,
        )


def _parse(config):
    """``(train_root, validation_root, VideoDataConfig)`` of a folder section."""
    config = dict(config)
    config.pop("type", None)
    train_root = config.pop("train", None)
    if not train_root:
        raise ValueError("data.train (a class-per-folder video tree) is required")
    validation_root = config.pop("validation", None)
    crop_size = config.pop("crop_size", None)
    if crop_size:
        config.setdefault("train_crop_size", crop_size)
        config.setdefault("eval_crop_size", crop_size)
    try:
        return train_root, validation_root, datasets.VideoDataConfig(**config)
    except TypeError as error:
        raise ValueError(f"data section: {error}") from None


def folder_input_settings(config):
    """How the clips of a folder section are read at evaluation: the
    ``VideoPreprocessor`` arguments a model trained on them records
    (``sampling_rate``, ``short_side``, ``crop_size``)."""
    data_config = _parse(config)[2]
    return {
        "sampling_rate": data_config.sampling_rate,
        "short_side": data_config.eval_short_side,
        "crop_size": data_config.eval_crop_size,
    }


def folder_datasets(config, batch_size, input_context=None):
    """``(train, validation, class_names, steps)`` for ``data: {type: folder}``.

    ``train`` is a :class:`VideoEpochs` (what ``train`` takes to resume
    mid-epoch); ``train.dataset(epoch)`` is that epoch's ``tf.data.Dataset``.

    Keys: ``train`` (folder), ``validation`` (folder or None), ``crop_size``
    (sets both crop sizes) and any ``VideoDataConfig`` field (``num_frames``,
    ``sampling_rate``, ``train_short_side``...). ``steps`` is the number of
    training batches per epoch, the schedule's unit (skipped videos make the
    real count smaller). Validation uses one view per clip as configured
    (``num_clips`` x ``num_crops``); each view is scored separately.
    """
    train_root, validation_root, data_config = _parse(config)
    train_source = datasets.VideoClipDataset.from_folder(train_root, config=data_config)
    train = VideoEpochs(train_source, batch_size, input_context=input_context)
    validation = None
    if validation_root:
        validation_source = datasets.VideoClipDataset.from_folder(
            validation_root, config=data_config
        )
        if list(validation_source.class_names) != list(train_source.class_names):
            raise ValueError(
                f"validation folder {validation_root} has classes "
                f"{list(validation_source.class_names)[:5]}..., training folder "
                f"{train_root} has {list(train_source.class_names)[:5]}...; "
                "they must have the same class sub-folders"
            )
        validation = validation_source.build(
            False, batch_size, input_context=input_context
        )
    steps = max(1, len(train_source) // batch_size)
    return train, validation, list(train_source.class_names), steps
