"""``tf.data`` pipelines of video clips for SlowFast training and evaluation.

The pipeline is a chain of small pure steps, run per video inside
``tf.numpy_function`` with parallel calls: sample (which instants, in seconds,
``data/sampling.py``) -> decode (the frames shown at those instants,
``data/decode.py``) -> spatial augmentation, giving uint8 clips -> normalize,
in the dataset's graph, by the :class:`VideoPreprocessor` of the config's
``input_convention`` (the model's). Clips come out as float32
``(num_frames, height, width, 3)``; the model packs the Slow/Fast pathways
itself, so the pipeline never does.

Readers for the list formats users have: Kinetics-style lists
(``path label`` or ``path,label``), a class-per-folder tree, and
Charades-style multi-label lists (``path 3,17,42``).

Videos with irregular timestamps, wrong frame counts, truncated ends or
damaged key frames give full clips (frames are taken by presentation time). A
video with no decodable frame at all (corrupt, empty, not a video) is skipped
with one warning naming the file on the ``keras_slowfast`` logger and counted
in ``VideoClipDataset.stats``; files missing at construction time raise a
ValueError listing them.
"""

import dataclasses
import logging
import os
import re
import threading

import numpy as np
import tensorflow as tf

from keras_slowfast.data import sampling, transforms
from keras_slowfast.data.decode import BACKENDS, VideoDecodeError, VideoReader
from keras_slowfast.models.preprocessor import VideoPreprocessor

logger = logging.getLogger("keras_slowfast")

VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv"
)  # fmt: skip


@dataclasses.dataclass
class VideoDataConfig:
    """Options of the video input pipeline (defaults: SlowFast 8x8 on Kinetics).

    Attributes:
        num_frames: int. Frames per clip (the Fast pathway's frames).
        sampling_rate: int. Stride between clip frames at ``target_fps``.
        target_fps: float or None. Videos are resampled to this frame rate
            before striding; None keeps each video's own rate.
        train_short_side: (int, int). Training short-side jitter range.
        train_crop_size: int. Training random crop size.
        random_flip: bool. Random horizontal flip in training.
        eval_short_side: int. Evaluation short side.
        eval_crop_size: int. Evaluation crop size.
        num_clips: int. Evaluation clips per video (uniformly spaced).
        num_crops: int. Evaluation crops per clip, 1 (center) or 3.
        backend: str. Decoder, ``"opencv"`` or ``"pyav"``.
        input_convention: dict or None. ``mean``, ``std``, ``channel_order``:
            the model's (``preprocessor_of(model).input_convention``); None
            means 0.45/0.225 RGB.
        shuffle_buffer_size: int. Training shuffle buffer (in videos).
        num_parallel_calls: int. Parallel decodes; -1 = ``tf.data.AUTOTUNE``.
        prefetch: int. Batches to prefetch; -1 = ``tf.data.AUTOTUNE``.
        seed: int or None. Seed of shuffling, clip starts, crops and flips;
            with a seed the pipeline output is reproducible.
    """

    num_frames: int = 32
    sampling_rate: int = 2
    target_fps: float | None = 30.0
    train_short_side: tuple[int, int] = (256, 320)
    train_crop_size: int = 224
    random_flip: bool = True
    eval_short_side: int = 256
    eval_crop_size: int = 256
    num_clips: int = 10
    num_crops: int = 3
    backend: str = "opencv"
    input_convention: dict | None = None
    shuffle_buffer_size: int = 1024
    num_parallel_calls: int = -1
    prefetch: int = -1
    seed: int | None = None

    def __post_init__(self):
        for name in ("num_frames", "sampling_rate", "num_clips", "shuffle_buffer_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        low, high = self.train_short_side
        if not 1 <= low <= high:
            raise ValueError(
                f"train_short_side={self.train_short_side} must be (low, high) "
                "with 1 <= low <= high"
            )
        if self.train_crop_size > low:
            raise ValueError(
                f"train_crop_size={self.train_crop_size} must be <= the smallest "
                f"train_short_side={low}"
            )
        if self.eval_crop_size > self.eval_short_side:
            raise ValueError(
                f"eval_crop_size={self.eval_crop_size} must be <= "
                f"eval_short_side={self.eval_short_side}"
            )
        if self.num_crops not in (1, 3):
            raise ValueError(f"num_crops={self.num_crops} must be 1 or 3")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} must be one of {BACKENDS}")
        self.input_convention = VideoPreprocessor.from_convention(
            self.input_convention
        ).input_convention


class DatasetStats:
    """Counts of a pipeline's work; shared by every ``tf.data`` copy it builds.

    Attributes:
        decoded: int. Clips decoded successfully.
        skipped: int. Decodes skipped because the video could not be decoded.
        bad_files: dict. Path -> reason, for every file skipped at least once.
    """

    def __init__(self):
        self.decoded = 0
        self.skipped = 0
        self.bad_files = {}
        self._lock = threading.Lock()

    def record_success(self):
        with self._lock:
            self.decoded += 1

    def record_skip(self, path, reason):
        """Counts a skip; warns once per file."""
        with self._lock:
            self.skipped += 1
            first_time = path not in self.bad_files
            self.bad_files.setdefault(path, reason)
        if first_time:
            logger.warning("Skipping unreadable video %s: %s", path, reason)

    def __repr__(self):
        return (
            f"DatasetStats(decoded={self.decoded}, skipped={self.skipped}, "
            f"bad_files={len(self.bad_files)})"
        )


def _resolve(path, root):
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) or root is None else os.path.join(root, path)


def _read_lines(list_path):
    if not os.path.isfile(list_path):
        raise ValueError(f"list_path={list_path!r}: file not found")
    with open(list_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield number, line


def read_video_list(list_path, root=None):
    """Reads a Kinetics-style list: one ``path label`` or ``path,label`` a line.

    Labels are integers, or class names (mapped to indices in sorted order). A
    first line whose label field is ``label`` is a header and is skipped;
    blank lines and lines starting with ``#`` are ignored.

    Args:
        list_path: str. The CSV or text file.
        root: str or None. Directory that relative paths are resolved against;
            None means the list file's directory.

    Returns:
        (paths, labels, class_names): absolute-or-rooted paths, int labels, and
        the class names when the labels were names (else None).
    """
    root = os.path.dirname(os.path.abspath(list_path)) if root is None else root
    paths, raw = [], []
    for number, line in _read_lines(list_path):
        parts = line.rsplit(",", 1) if "," in line else line.rsplit(None, 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(
                f"{list_path}:{number}: expected 'path label' or 'path,label', "
                f"got {line!r}"
            )
        path, label = parts[0].strip().strip('"'), parts[1].strip().strip('"')
        if not paths and label.lower() == "label":
            continue
        paths.append(_resolve(path, root))
        raw.append(label)
    if not paths:
        raise ValueError(f"list_path={list_path!r} lists no videos")
    if all(re.fullmatch(r"-?\d+", label) for label in raw):
        return paths, [int(label) for label in raw], None
    class_names = sorted(set(raw))
    lookup = {name: i for i, name in enumerate(class_names)}
    return paths, [lookup[label] for label in raw], class_names


def read_folder_tree(root, extensions=VIDEO_EXTENSIONS):
    """Reads a class-per-folder tree: ``root/<class name>/**/<video>``.

    Classes are the sorted sub-directory names; label i is ``class_names[i]``.

    Returns:
        (paths, labels, class_names).
    """
    if not os.path.isdir(root):
        raise ValueError(f"root={root!r} is not a directory")
    class_names = sorted(
        name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name))
    )
    if not class_names:
        raise ValueError(f"root={root!r} has no class sub-directories")
    extensions = tuple(ext.lower() for ext in extensions)
    paths, labels = [], []
    for label, name in enumerate(class_names):
        for directory, _, files in sorted(os.walk(os.path.join(root, name))):
            for file in sorted(files):
                if file.lower().endswith(extensions):
                    paths.append(os.path.join(directory, file))
                    labels.append(label)
    if not paths:
        raise ValueError(f"root={root!r} has no videos with extensions {extensions}")
    return paths, labels, class_names


def read_multilabel_list(list_path, root=None):
    """Reads a Charades-style multi-label list: ``path 3,17,42`` a line.

    The path is the first whitespace-separated field; the labels are the
    integers after it, separated by commas and/or spaces (none: no label).

    Returns:
        (paths, label_lists).
    """
    root = os.path.dirname(os.path.abspath(list_path)) if root is None else root
    paths, label_lists = [], []
    for number, line in _read_lines(list_path):
        parts = line.split(None, 1)
        fields = re.split(r"[,\s]+", parts[1].strip()) if len(parts) > 1 else []
        try:
            labels = sorted({int(field) for field in fields if field})
        except ValueError:
            raise ValueError(
                f"{list_path}:{number}: expected 'path label,label,...' with "
                f"integer labels, got {line!r}"
            ) from None
        paths.append(_resolve(parts[0], root))
        label_lists.append(labels)
    if not paths:
        raise ValueError(f"list_path={list_path!r} lists no videos")
    return paths, label_lists


class VideoClipDataset:
    """A list of labelled videos and the ``tf.data`` pipelines built from it.

    Args:
        paths: list of str. Video files.
        labels: None, list of int (single-label), or list of lists of int
            (``multi_label=True``).
        config: ``VideoDataConfig`` or None for the defaults.
        num_classes: int or None. Needed for multi-hot targets; inferred as
            ``max label + 1`` if None.
        multi_label: bool. Targets are multi-hot float32 vectors.
        class_names: list of str or None. Names of the label indices.
        check_files: bool. Probe files at construction until one opens, so a
            list of only unreadable files fails early.

    Raises:
        ValueError: files are missing (all listed), labels do not match paths,
            or (with ``check_files``) no file is a readable video.

    Examples:
        >>> data = VideoClipDataset.from_list("train.csv", root="videos")
        ... # doctest: +SKIP
        >>> train = data.build(training=True, batch_size=8)  # doctest: +SKIP
        >>> model.fit(train, epochs=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        paths,
        labels=None,
        *,
        config=None,
        num_classes=None,
        multi_label=False,
        class_names=None,
        check_files=True,
    ):
        self.config = config if config is not None else VideoDataConfig()
        if not isinstance(self.config, VideoDataConfig):
            raise ValueError(f"config must be a VideoDataConfig, got {config!r}")
        self.paths = [str(path) for path in paths]
        if not self.paths:
            raise ValueError("paths is empty: expected at least one video")
        missing = [path for path in self.paths if not os.path.isfile(path)]
        if missing:
            shown = "\n  ".join(missing[:20])
            more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise ValueError(
                f"{len(missing)} of {len(self.paths)} listed video files are "
                f"missing:\n  {shown}{more}"
            )
        self.multi_label = bool(multi_label)
        self.class_names = list(class_names) if class_names is not None else None
        self.targets, self.num_classes = self._targets(labels, num_classes)
        self.stats = DatasetStats()
        if check_files:
            self._check_some_readable()

    @classmethod
    def from_list(cls, list_path, root=None, **kwargs):
        """From a ``path label`` / ``path,label`` list (see read_video_list)."""
        paths, labels, class_names = read_video_list(list_path, root)
        kwargs.setdefault("class_names", class_names)
        return cls(paths, labels, **kwargs)

    @classmethod
    def from_folder(cls, root, extensions=VIDEO_EXTENSIONS, **kwargs):
        """From a class-per-folder tree (see read_folder_tree)."""
        paths, labels, class_names = read_folder_tree(root, extensions)
        kwargs.setdefault("class_names", class_names)
        kwargs.setdefault("num_classes", len(class_names))
        return cls(paths, labels, **kwargs)

    @classmethod
    def from_multilabel_list(cls, list_path, root=None, num_classes=None, **kwargs):
        """From a Charades-style multi-label list (see read_multilabel_list)."""
        paths, label_lists = read_multilabel_list(list_path, root)
        return cls(
            paths, label_lists, num_classes=num_classes, multi_label=True, **kwargs
        )

    def __len__(self):
        return len(self.paths)

    @property
    def preprocessor(self):
        """The :class:`VideoPreprocessor` that normalizes the decoded clips.

        Built from ``config.input_convention``; the pipeline applies its
        ``normalize`` to the uint8 clips inside the dataset graph.
        """
        return VideoPreprocessor.from_convention(self.config.input_convention)

    def _targets(self, labels, num_classes):
        count = len(self.paths)
        if labels is None:
            if self.multi_label:
                if num_classes is None:
                    raise ValueError(
                        "multi_label=True without labels needs num_classes"
                    )
                return np.zeros((count, num_classes), np.float32), num_classes
            return np.full((count,), -1, np.int32), num_classes
        if len(labels) != count:
            raise ValueError(f"got {len(labels)} labels for {count} paths")
        if self.multi_label:
            flat = [int(v) for lab in labels for v in lab]
            if num_classes is None:
                num_classes = max(flat, default=-1) + 1 or 1
            if flat and (min(flat) < 0 or max(flat) >= num_classes):
                raise ValueError(
                    f"labels must be in [0, num_classes={num_classes}), got "
                    f"[{min(flat)}, {max(flat)}]"
                )
            targets = np.zeros((count, num_classes), np.float32)
            for row, lab in enumerate(labels):
                targets[row, [int(v) for v in lab]] = 1.0
            return targets, num_classes
        targets = np.asarray(labels, np.int32).reshape(-1)
        if num_classes is not None and (
            targets.min() < 0 or targets.max() >= num_classes
        ):
            raise ValueError(
                f"labels must be in [0, num_classes={num_classes}), got "
                f"[{targets.min()}, {targets.max()}]"
            )
        return targets, num_classes

    def _check_some_readable(self):
        reasons = []
        for path in self.paths:
            try:
                with VideoReader(path, self.config.backend) as reader:
                    reader.frames_at([0.0])
                    return
            except VideoDecodeError as error:
                reasons.append(str(error))
        shown = "\n  ".join(reasons[:10])
        raise ValueError(
            f"none of the {len(self.paths)} videos could be opened "
            f"(backend={self.config.backend!r}):\n  {shown}"
        )

    # -- per-video work, run inside tf.numpy_function -------------------------

    def _skip(self, path, reason):
        self.stats.record_skip(path, reason)
        if len(self.stats.bad_files) >= len(self.paths):
            raise ValueError(
                f"every one of the {len(self.paths)} videos failed to decode; "
                f"e.g. {path}: {reason}"
            )

    def _decode(self, index, instants_fn):
        """The frames of video ``index`` at ``instants_fn(info)``, or None (and
        a counted skip) when the video has no decodable frame."""
        path = self.paths[int(index)]
        try:
            with VideoReader(path, self.config.backend) as reader:
                frames = reader.frames_at(instants_fn(reader.info))
        except VideoDecodeError as error:
            self._skip(path, error.reason)
            return None
        except Exception as error:  # decoder internals on garbage input
            self._skip(path, f"{type(error).__name__}: {error}")
            return None
        self.stats.record_success()
        return frames

    def _train_clip(self, index, seed):
        config = self.config
        rng = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF)

        def instants(info):
            return sampling.random_clip_instants(
                info.duration,
                config.num_frames,
                config.sampling_rate,
                config.target_fps,
                video_fps=info.fps,
                rng=rng,
            )

        frames = self._decode(index, instants)
        size = config.train_crop_size
        if frames is None:
            return np.zeros((config.num_frames, size, size, 3), np.uint8), False
        frames = transforms.train_transform(
            frames,
            short_side_range=config.train_short_side,
            crop_size=size,
            flip=config.random_flip,
            rng=rng,
        )
        return np.ascontiguousarray(frames), True

    def _eval_views(self, index, clip_index):
        config = self.config

        def instants(info):
            return sampling.uniform_clip_instants(
                info.duration,
                config.num_frames,
                config.sampling_rate,
                config.target_fps,
                clip_index=int(clip_index),
                num_clips=config.num_clips,
                video_fps=info.fps,
            )

        frames = self._decode(index, instants)
        size = config.eval_crop_size
        if frames is None:
            shape = (config.num_crops, config.num_frames, size, size, 3)
            return np.zeros(shape, np.uint8), False
        views = transforms.eval_transform(
            frames,
            short_side=config.eval_short_side,
            crop_size=size,
            num_crops=config.num_crops,
        )
        return views, True

    # -- tf.data --------------------------------------------------------------

    def _parallel(self):
        calls = self.config.num_parallel_calls
        return tf.data.AUTOTUNE if calls == -1 else calls

    def _video_indices(self, input_context):
        dataset = tf.data.Dataset.range(len(self.paths))
        if input_context is not None:
            dataset = dataset.shard(
                input_context.num_input_pipelines, input_context.input_pipeline_id
            )
        return dataset

    def _finish(self, dataset, batch_size, input_context, drop_remainder):
        if batch_size is not None:
            if input_context is not None:
                batch_size = input_context.get_per_replica_batch_size(batch_size)
            dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        prefetch = self.config.prefetch
        return dataset.prefetch(tf.data.AUTOTUNE if prefetch == -1 else prefetch)

    def epoch_order(self, epoch, seed, input_context=None):
        """Video indices and clip seeds of training epoch ``epoch``, in order.

        A function of ``(seed, epoch)`` and the shard only (not of earlier
        epochs or of this process's history), so a resumed run repeats it.

        Returns:
            ``(indices, clip_seeds)``: int64 arrays of this shard's videos.
        """
        indices = np.arange(len(self.paths))
        if input_context is not None:
            indices = indices[
                input_context.input_pipeline_id :: input_context.num_input_pipelines
            ]
        rng = np.random.default_rng([int(seed), int(epoch)])
        order = rng.permutation(indices).astype(np.int64)
        clip_seeds = rng.integers(0, 2**63 - 1, size=len(order), dtype=np.int64)
        return order, clip_seeds

    def build(
        self,
        training,
        batch_size=None,
        *,
        input_context=None,
        repeat=False,
        drop_remainder=None,
        epoch=None,
        seed=None,
        skip_batches=0,
    ):
        """The ``tf.data.Dataset`` of ``(clip, target)`` pairs.

        Training: one random clip per video per pass, shuffled, jittered,
        cropped, flipped. Evaluation: ``num_clips * num_crops`` views per video
        in order (clip-major, then crop). Clips are float32
        ``(num_frames, size, size, 3)``; targets int32 labels (-1 if unlabeled)
        or float32 multi-hot vectors.

        Args:
            training: bool. Training or evaluation views.
            batch_size: int or None. Global batch size (divided by the replicas
                of ``input_context``); None leaves the dataset unbatched.
            input_context: ``tf.distribute.InputContext`` or None. Shards the
                videos by input pipeline.
            repeat: bool. Repeat forever (new clips and augmentations each pass).
            drop_remainder: bool or None. Defaults to ``training``.
            epoch: int or None. Training only: build exactly this epoch, in
                the order and with the clip seeds of :meth:`epoch_order`
                (instead of a shuffle buffer and a random stream), so that a
                resumed run sees the same clips.
            seed: int or None. With ``epoch``: the run's data seed (default
                ``config.seed``, else 0).
            skip_batches: int. With ``epoch``: leave out the first batches
                (those a resumed run has trained on). The rule is exact in
                video positions: ``skip_batches * batch_size`` videos of the
                epoch's order (per replica), so if one of them was
                undecodable the resumed epoch is one clip off.
        """
        config = self.config
        drop_remainder = training if drop_remainder is None else drop_remainder
        targets = tf.constant(self.targets)
        if epoch is not None:
            if not training or repeat:
                raise ValueError("epoch= builds one training epoch (no repeat)")
            return self._build_epoch(
                batch_size, input_context, drop_remainder, epoch, seed, skip_batches
            )
        dataset = self._video_indices(input_context)
        if training:
            dataset = dataset.shuffle(
                min(config.shuffle_buffer_size, len(self.paths)),
                seed=config.seed,
                reshuffle_each_iteration=True,
            )
        if repeat:
            dataset = dataset.repeat()
        if training:
            seeds = tf.data.Dataset.random(
                seed=config.seed, rerandomize_each_iteration=True
            )
            dataset = self._train_map(tf.data.Dataset.zip(dataset, seeds))
            return self._finish(dataset, batch_size, input_context, drop_remainder)
        size = config.eval_crop_size
        clip_shape = (config.num_frames, size, size, 3)
        num_clips = config.num_clips
        dataset = dataset.flat_map(
            lambda index: tf.data.Dataset.range(num_clips).map(
                lambda clip_index: (index, clip_index)
            )
        )

        preprocessor = self.preprocessor

        def load(index, clip_index):
            views, ok = tf.numpy_function(
                self._eval_views, [index, clip_index], (tf.uint8, tf.bool)
            )
            views = tf.ensure_shape(views, (config.num_crops, *clip_shape))
            return preprocessor.normalize(views), tf.gather(targets, index), ok

        dataset = dataset.map(
            load, num_parallel_calls=self._parallel(), deterministic=True
        )
        dataset = dataset.filter(lambda views, target, ok: ok)
        dataset = dataset.flat_map(
            lambda views, target, ok: tf.data.Dataset.from_tensor_slices(
                (views, tf.repeat(target[None], tf.shape(views)[0], axis=0))
            )
        )
        return self._finish(dataset, batch_size, input_context, drop_remainder)

    def _train_map(self, dataset):
        """``(index, clip seed)`` -> ``(clip, target)``, undecodable ones dropped."""
        config = self.config
        targets = tf.constant(self.targets)
        size = config.train_crop_size
        clip_shape = (config.num_frames, size, size, 3)

        preprocessor = self.preprocessor

        def load(index, seed):
            clip, ok = tf.numpy_function(
                self._train_clip, [index, seed], (tf.uint8, tf.bool)
            )
            clip = tf.ensure_shape(clip, clip_shape)
            return preprocessor.normalize(clip), tf.gather(targets, index), ok

        dataset = dataset.map(
            load, num_parallel_calls=self._parallel(), deterministic=True
        )
        dataset = dataset.filter(lambda clip, target, ok: ok)
        return dataset.map(lambda clip, target, ok: (clip, target))

    def _build_epoch(
        self, batch_size, input_context, drop_remainder, epoch, seed, skip_batches
    ):
        if seed is None:
            seed = self.config.seed if self.config.seed is not None else 0
        order, clip_seeds = self.epoch_order(epoch, seed, input_context)
        per_replica = batch_size or 1
        if input_context is not None and batch_size is not None:
            per_replica = input_context.get_per_replica_batch_size(batch_size)
        skip = int(skip_batches) * per_replica
        dataset = tf.data.Dataset.from_tensor_slices((order[skip:], clip_seeds[skip:]))
        dataset = self._train_map(dataset)
        return self._finish(dataset, batch_size, input_context, drop_remainder)

    def build_views(self, batch_size=None, *, input_context=None):
        """Evaluation views with their video index: ``(clip, video_index)``.

        The views of each video (``num_clips * num_crops``, or none if it was
        skipped) come in order; used by ``evaluate_multiview`` to average the
        scores per video.
        """
        config = self.config
        clip_shape = (config.num_crops, config.num_frames)
        clip_shape += (config.eval_crop_size, config.eval_crop_size, 3)
        num_clips = config.num_clips
        dataset = self._video_indices(input_context).flat_map(
            lambda index: tf.data.Dataset.range(num_clips).map(
                lambda clip_index: (index, clip_index)
            )
        )

        preprocessor = self.preprocessor

        def load(index, clip_index):
            views, ok = tf.numpy_function(
                self._eval_views, [index, clip_index], (tf.uint8, tf.bool)
            )
            views = tf.ensure_shape(views, clip_shape)
            return preprocessor.normalize(views), index, ok

        dataset = dataset.map(
            load, num_parallel_calls=self._parallel(), deterministic=True
        )
        dataset = dataset.filter(lambda views, index, ok: ok).flat_map(
            lambda views, index, ok: tf.data.Dataset.from_tensor_slices(
                (views, tf.fill([tf.shape(views)[0]], index))
            )
        )
        return self._finish(dataset, batch_size, input_context, False)
