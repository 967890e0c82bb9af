"""AVA-format action detection data: annotation files and a tf.data pipeline.

AVA (Gu et al., CVPR 2018) labels one keyframe per second: each row of its CSV
files is ``video_id, timestamp, x1, y1, x2, y2, action_id, person_id`` with
box corners normalized to [0, 1]. Detection files use the same columns with a
score in place of the person id, and person proposals (from an off-the-shelf
detector) leave the action empty. The label map is a ``.pbtxt`` of
``item { name: "..." id: N }`` entries; the exclusions CSV lists
``video_id, timestamp`` keyframes to ignore.

A sample is a clip centred on a keyframe (the instant ``timestamp -
time_offset`` seconds, :func:`keras_slowfast.data.sampling.keyframe_clip_instants`),
its person boxes in clip pixels and their multi-hot labels. Frames are taken
by presentation time (:class:`keras_slowfast.data.decode.VideoReader`), so
variable-rate and damaged files give full clips.
"""

import collections
import csv
import dataclasses
import glob
import logging
import os
import re

import cv2
import numpy as np
import tensorflow as tf

from keras_slowfast.data.decode import VideoDecodeError, probe_video, read_frames_at
from keras_slowfast.data.sampling import keyframe_clip_instants
from keras_slowfast.models.preprocessor import VideoPreprocessor

logger = logging.getLogger("keras_slowfast")

# Score threshold of the person proposals used by PySlowFast / PyTorchVideo.
DEFAULT_PROPOSAL_THRESHOLD = 0.8
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov")


@dataclasses.dataclass(frozen=True)
class AVABox:
    """One box on one keyframe.

    Attributes:
        box: tuple ``(x1, y1, x2, y2)`` normalized to [0, 1].
        labels: tuple of action ids (sorted; empty for proposals).
        score: float. Detector score (1.0 for ground truth).
        person_id: int or None.
    """

    box: tuple
    labels: tuple = ()
    score: float = 1.0
    person_id: int | None = None


def _key(video_id, timestamp, path, line):
    try:
        return (video_id, int(round(float(timestamp))))
    except ValueError:
        raise ValueError(
            f"{path}:{line}: timestamp {timestamp!r} is not a number"
        ) from None


def read_label_map(path):
    """Reads an AVA label map ``.pbtxt``: ``{action_id: name}`` (in file order).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file when it holds no ``item`` with ``name``
            and ``id``.
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    labels = {}
    for item in re.findall(r"item\s*\{(.*?)\}", text, flags=re.S):
        name = re.search(r"(?:display_)?name:\s*[\"'](.*?)[\"']", item)
        number = re.search(r"\bid:\s*(\d+)", item)
        if name is None or number is None:
            raise ValueError(f"{path}: label map item without name and id: {item!r}")
        labels[int(number.group(1))] = name.group(1)
    if not labels:
        raise ValueError(f"{path}: no 'item {{ name: ... id: ... }}' entries found")
    return labels


def read_exclusions(path):
    """Reads an exclusions CSV: the set of ``(video_id, timestamp)`` keyframes."""
    excluded = set()
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) < 2:
                raise ValueError(
                    f"{path}:{line}: expected 'video_id,timestamp', got {row!r}"
                )
            excluded.add(_key(row[0], row[1], path, line))
    return excluded


@dataclasses.dataclass(frozen=True)
class AVARow:
    """One row of an AVA CSV file.

    Attributes:
        video_id: str.
        timestamp: int. Keyframe second.
        box: tuple ``(x1, y1, x2, y2)`` normalized to [0, 1].
        action_id: int or None (proposals have no action).
        score: float. Detector score (1.0 for ground truth).
        person_id: int or None.
    """

    video_id: str
    timestamp: int
    box: tuple
    action_id: int | None
    score: float = 1.0
    person_id: int | None = None

    @property
    def key(self):
        """``(video_id, timestamp)``: the keyframe."""
        return (self.video_id, self.timestamp)


def read_ava_rows(path, *, class_ids=None, exclusions=None, score_threshold=None):
    """Reads the rows of an AVA CSV (ground truth, detections or proposals).

    The 8th column is a person id in ground-truth files (integers) and a
    score in detection and proposal files (any value with a decimal point or
    exponent in the file makes the whole column scores).

    Args:
        path: str. CSV with ``video_id, timestamp, x1, y1, x2, y2[, action_id
            [, person_id or score]]`` rows.
        class_ids: iterable of action ids to keep (e.g. the label map's keys),
            or None for all. Rows with an empty action are kept (proposals).
        exclusions: set of ``(video_id, timestamp)`` keyframes to skip.
        score_threshold: float or None. Drop rows scoring below it.

    Returns:
        list of :class:`AVARow` in file order.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: naming the file and line of a malformed row.
    """
    class_ids = None if class_ids is None else {int(c) for c in class_ids}
    exclusions = exclusions or set()
    raw = []
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 6:
                raise ValueError(
                    f"{path}:{line}: expected 'video_id,timestamp,x1,y1,x2,y2,"
                    f"action_id,person_id|score', got {len(row)} columns: {row!r}"
                )
            key = _key(row[0].strip(), row[1], path, line)
            try:
                box = tuple(float(v) for v in row[2:6])
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: box {row[2:6]} is not numeric"
                ) from None
            action = row[6].strip() if len(row) > 6 else ""
            extra = row[7].strip() if len(row) > 7 else ""
            raw.append((key, box, action, extra, line))
    scores = any("." in extra or "e" in extra.lower() for *_, extra, _ in raw)
    rows = []
    for key, box, action, extra, line in raw:
        if key in exclusions:
            continue
        action_id = None
        if action:
            try:
                action_id = int(action)
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: action id {action!r} is not an integer"
                ) from None
            if class_ids is not None and action_id not in class_ids:
                continue
        score, person = 1.0, None
        if extra:
            try:
                if scores:
                    score = float(extra)
                else:
                    person = int(extra)
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: column 8 {extra!r} is not a number"
                ) from None
        if score_threshold is not None and score < score_threshold:
            continue
        rows.append(AVARow(key[0], key[1], box, action_id, score, person))
    return rows


def read_ava_csv(path, *, class_ids=None, exclusions=None, score_threshold=None):
    """Reads an AVA CSV grouped by keyframe and box (for training / inference).

    Rows with the same keyframe and box are merged into one :class:`AVABox`
    carrying all its action ids (and the highest score). Arguments as
    :func:`read_ava_rows`.

    Returns:
        dict ``{(video_id, timestamp): [AVABox, ...]}`` in file order.
    """
    grouped = collections.OrderedDict()
    for row in read_ava_rows(
        path,
        class_ids=class_ids,
        exclusions=exclusions,
        score_threshold=score_threshold,
    ):
        entry = grouped.setdefault(row.key, collections.OrderedDict())
        slot = entry.setdefault(
            row.box, {"labels": set(), "score": row.score, "person": row.person_id}
        )
        if row.action_id is not None:
            slot["labels"].add(row.action_id)
        slot["score"] = max(slot["score"], row.score)
    return {
        key: [
            AVABox(box, tuple(sorted(s["labels"])), s["score"], s["person"])
            for box, s in boxes.items()
        ]
        for key, boxes in grouped.items()
    }


def read_proposals(
    path, *, score_threshold=DEFAULT_PROPOSAL_THRESHOLD, exclusions=None
):
    """Person proposals (detector boxes) with score >= ``score_threshold``."""
    return read_ava_csv(path, exclusions=exclusions, score_threshold=score_threshold)


def letterbox(frames, size):
    """Resizes frames so the long side is ``size`` and pads to a square.

    The whole frame stays visible (AVA boxes can lie anywhere). Returns
    ``(frames (T, size, size, 3) uint8, scale, (pad_x, pad_y))``: a normalized
    box maps to pixels by ``x * width * scale + pad_x``.
    """
    height, width = frames.shape[1:3]
    scale = size / max(height, width)
    new_h = max(1, int(round(height * scale)))
    new_w = max(1, int(round(width * scale)))
    pad_y, pad_x = (size - new_h) // 2, (size - new_w) // 2
    out = np.zeros((len(frames), size, size, 3), np.uint8)
    for i, frame in enumerate(frames):
        resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        out[i, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    return out, scale, (pad_x, pad_y)


def boxes_to_pixels(boxes, height, width, scale=1.0, pad=(0, 0)):
    """Normalized ``(N, 4)`` x1, y1, x2, y2 -> pixels of a (letterboxed) clip."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    factor = np.array([width, height, width, height], np.float32) * scale
    offset = np.array([pad[0], pad[1], pad[0], pad[1]], np.float32)
    return boxes * factor + offset


def find_video(video_dir, video_id):
    """``video_dir/video_id.<ext>`` for a known video extension, or None."""
    for ext in VIDEO_EXTENSIONS:
        path = os.path.join(video_dir, video_id + ext)
        if os.path.exists(path):
            return path
    matches = sorted(glob.glob(os.path.join(glob.escape(video_dir), video_id + ".*")))
    return matches[0] if matches else None


@dataclasses.dataclass
class AVADataConfig:
    """How AVA samples are built.

    Attributes:
        num_frames: int. Frames per clip (the model's ``num_frames``).
        sampling_rate: int. Frame step at ``target_fps`` (2 for SlowFast 8x8).
        target_fps: float. Rate the clip's frames are taken at (30: AVA's
            frames as PySlowFast extracts them).
        image_size: int. Clips are letterboxed to ``image_size`` squares.
        max_boxes: int. Boxes per clip (extra boxes are dropped, fewer padded
            with -1).
        time_offset: float. Seconds subtracted from timestamps (900 for the
            AVA 15-minute cuts, 0 for whole videos).
        mean, std: per-channel normalization of the frames in [0, 1], in
            ``channel_order``.
        channel_order: ``"rgb"``, or ``"bgr"`` for models trained on BGR
            frames (PySlowFast's Caffe2 checkpoints): the channels are
            reordered before normalizing, as everywhere else. ``mean``,
            ``std`` and ``channel_order`` are the model's input convention
            (``preprocessor_of(model).input_convention``), applied by
            :attr:`preprocessor`.
        flip: bool. Random horizontal flips (training).
        seed: int. Seed of the flips and of the shuffle.
    """

    num_frames: int = 32
    sampling_rate: int = 2
    target_fps: float = 30.0
    image_size: int = 256
    max_boxes: int = 20
    time_offset: float = 0.0
    mean: tuple = (0.45, 0.45, 0.45)
    std: tuple = (0.225, 0.225, 0.225)
    channel_order: str = "rgb"
    flip: bool = False
    seed: int = 0

    def __post_init__(self):
        # Bad mean, std or channel_order fail here, not at the first sample.
        _ = self.preprocessor

    @property
    def preprocessor(self):
        """The :class:`VideoPreprocessor` of ``mean``, ``std``, ``channel_order``."""
        return VideoPreprocessor(
            mean=self.mean, std=self.std, channel_order=self.channel_order
        )


class AVADataset:
    """AVA samples ``((clip, boxes), labels)`` as a Python iterable and tf.data.

    Args:
        video_dir: str. Folder of videos named ``<video_id>.<ext>``.
        boxes: dict ``{(video_id, timestamp): [AVABox]}``: ground truth for
            training (labels from the boxes) or proposals for inference.
        class_ids: list of action ids; label ``i`` of the multi-hot vector is
            ``class_ids[i]`` (e.g. ``sorted(read_label_map(...))``).
        config: :class:`AVADataConfig`.

    A keyframe whose video is missing or cannot be decoded is skipped with one
    warning per video (logger ``keras_slowfast``) and counted in
    ``skipped_videos``.
    """

    def __init__(self, video_dir, boxes, class_ids, config=None):
        self.video_dir = str(video_dir)
        self.config = config or AVADataConfig()
        self.class_ids = [int(c) for c in class_ids]
        if not self.class_ids:
            raise ValueError("class_ids must list at least one action id")
        self._class_index = {c: i for i, c in enumerate(self.class_ids)}
        self.keys = sorted(boxes)
        self.boxes = boxes
        self.preprocessor = self.config.preprocessor
        self.skipped_videos = set()
        self._infos = {}

    def __len__(self):
        return len(self.keys)

    def _video(self, video_id):
        if video_id in self.skipped_videos:
            return None
        if video_id not in self._infos:
            path = find_video(self.video_dir, video_id)
            try:
                if path is None:
                    raise VideoDecodeError(
                        os.path.join(self.video_dir, video_id), "no video file found"
                    )
                self._infos[video_id] = probe_video(path)
            except VideoDecodeError as error:
                self._skip(video_id, error)
                return None
        return self._infos[video_id]

    def _skip(self, video_id, error):
        if video_id not in self.skipped_videos:
            logger.warning("Skipping AVA video %s: %s", video_id, error)
        self.skipped_videos.add(video_id)

    def sample(self, key, rng=None):
        """The sample of one keyframe, or None if its video is unusable.

        Returns:
            ``(clip float32 (T, S, S, 3) normalized, boxes float32
            (max_boxes, 4) pixels with -1 padding, labels float32
            (max_boxes, num_classes) with -1 padding rows, normalized boxes
            (max_boxes, 4))``.
        """
        cfg = self.config
        video_id, timestamp = key
        info = self._video(video_id)
        if info is None:
            return None
        instants = keyframe_clip_instants(
            timestamp,
            cfg.num_frames,
            cfg.sampling_rate,
            cfg.target_fps,
            cfg.time_offset,
        )
        try:
            frames = read_frames_at(info.path, instants)
        except VideoDecodeError as error:
            self._skip(video_id, error)
            return None
        frames, scale, pad = letterbox(frames, cfg.image_size)
        entries = self.boxes[key][: cfg.max_boxes]
        normalized = np.array([e.box for e in entries], np.float32).reshape(-1, 4)
        flip = cfg.flip and rng is not None and rng.random() < 0.5
        if flip:
            frames = frames[:, :, ::-1]
            normalized = normalized.copy()
            normalized[:, [0, 2]] = 1.0 - normalized[:, [2, 0]]
        pixels = boxes_to_pixels(normalized, info.height, info.width, scale, pad)
        clip = np.asarray(self.preprocessor.normalize(frames))
        boxes = np.full((cfg.max_boxes, 4), -1.0, np.float32)
        boxes[: len(entries)] = pixels
        padded_norm = np.full((cfg.max_boxes, 4), -1.0, np.float32)
        padded_norm[: len(entries)] = normalized
        labels = np.full((cfg.max_boxes, len(self.class_ids)), -1.0, np.float32)
        labels[: len(entries)] = 0.0
        for row, entry in enumerate(entries):
            for action in entry.labels:
                if action in self._class_index:
                    labels[row, self._class_index[action]] = 1.0
        return clip.astype(np.float32), boxes, labels, padded_norm

    def generate(self, shuffle=False, with_keys=False):
        """Yields ``((clip, boxes), labels)`` (plus the key when ``with_keys``)."""
        rng = np.random.default_rng(self.config.seed)
        order = np.arange(len(self.keys))
        if shuffle:
            rng.shuffle(order)
        for index in order:
            key = self.keys[index]
            sample = self.sample(key, rng)
            if sample is None:
                continue
            clip, boxes, labels, normalized = sample
            if with_keys:
                yield (clip, boxes), labels, (key[0], key[1], normalized)
            else:
                yield (clip, boxes), labels

    def as_tf_dataset(self, batch_size=1, shuffle=False, with_keys=False):
        """A batched ``tf.data.Dataset`` of ``((clip, boxes), labels)``.

        With ``with_keys=True`` each element also carries ``(video_id,
        timestamp, normalized_boxes)`` for writing detections.
        """
        cfg = self.config
        size = cfg.image_size
        signature = (
            (
                tf.TensorSpec((cfg.num_frames, size, size, 3), tf.float32),
                tf.TensorSpec((cfg.max_boxes, 4), tf.float32),
            ),
            tf.TensorSpec((cfg.max_boxes, len(self.class_ids)), tf.float32),
        )
        if with_keys:
            signature = signature + (
                (
                    tf.TensorSpec((), tf.string),
                    tf.TensorSpec((), tf.int64),
                    tf.TensorSpec((cfg.max_boxes, 4), tf.float32),
                ),
            )
        dataset = tf.data.Dataset.from_generator(
            lambda: self.generate(shuffle=shuffle, with_keys=with_keys),
            output_signature=signature,
        )
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def write_detections(path, rows):
    """Writes AVA detection rows ``(video_id, timestamp, box, action_id, score)``.

    ``box`` is normalized ``x1, y1, x2, y2``; the file is what
    :func:`keras_slowfast.evaluation.ava_map.evaluate_ava` reads.
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for video_id, timestamp, box, action, score in rows:
            writer.writerow(
                [video_id, f"{int(timestamp):04d}"]
                + [f"{float(v):.3f}" for v in box]
                + [int(action), f"{float(score):.6f}"]
            )
