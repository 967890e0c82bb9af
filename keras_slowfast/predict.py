"""Classify a whole video: sliding-window or multi-view inference with top-k.

``predict_video`` decodes a video window by window (only the frames a window
samples), preprocesses each view exactly like the exported SavedModel's
``serving_default`` signature (short-side resize, crop, normalization from the
model's ``input_convention``), and returns the top-k classes of every window
and of the whole video (mean of the window probabilities).
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.data.decode import VideoDecodeError, probe_video, read_frames
from keras_slowfast.export.preprocessing import check_sizes, preprocess_video
from keras_slowfast.export.saved_model import (
    _resolve_activation,
    is_detection_model,
    load_label_map,
)

# Crop positions along each axis for 1- and 3-crop testing (PySlowFast: left,
# center, right of the long side after the short-side resize).
CROP_POSITIONS = {1: (0.5,), 3: (0.0, 0.5, 1.0)}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_model(weights, preset=None, **overrides):
    """Loads a model for inference from a ``.keras`` file or preset + weights.

    Args:
        weights: str. A ``.keras`` model file, or a ``.weights.h5`` file whose
            architecture is given by ``preset``.
        preset: str or None. Preset name (see ``keras_slowfast.preset_names()``),
            needed with ``.weights.h5``.
        **overrides: preset overrides, e.g. ``num_classes=10``.

    Returns:
        The Keras model.

    Raises:
        FileNotFoundError: ``weights`` does not exist.
        ValueError: the file type is unknown, the preset is missing, or the
            file does not load.
    """
    weights = os.fspath(weights)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"weights {weights}: file not found")
    if weights.endswith(".keras"):
        if preset is not None:
            raise ValueError(
                f"weights {weights} is a whole .keras model; drop --preset {preset}"
            )
        try:
            return keras.saving.load_model(weights, compile=False)
        except Exception as error:  # noqa: BLE001 - reported as one line
            raise ValueError(f"weights {weights}: cannot load ({error})") from None
    if weights.endswith(".weights.h5"):
        if preset is None:
            raise ValueError(
                f"weights {weights} holds only weights; give the architecture "
                "with --preset NAME"
            )
        from keras_slowfast.models import from_preset

        model = from_preset(preset, **overrides)
        try:
            model.load_weights(weights)
        except Exception as error:  # noqa: BLE001 - reported as one line
            raise ValueError(
                f"weights {weights}: do not fit preset {preset!r} ({error})"
            ) from None
        return model
    raise ValueError(
        f"weights {weights}: expected a .keras model file or a .weights.h5 file"
    )


def window_starts(num_frames, span, *, num_clips=None, window_stride=None):
    """First frame of each window over a video of ``num_frames`` frames.

    Args:
        num_frames: int. Frames in the video.
        span: int. Frames one window covers.
        num_clips: int or None. Multi-view testing: this many windows spread
            uniformly from the first to the last possible start (one window is
            centered).
        window_stride: int or None. Sliding windows: distance between starts
            (default: ``span``, windows side by side); a last window is added
            so the end of the video is covered.

    Returns:
        list of ints.
    """
    last = num_frames - span
    if last < 0:
        raise ValueError(f"a window of {span} frames does not fit {num_frames} frames")
    if num_clips is not None:
        if num_clips < 1:
            raise ValueError(f"num_clips={num_clips} must be >= 1")
        if num_clips == 1:
            return [last // 2]
        return sorted({int(round(s)) for s in np.linspace(0, last, num_clips)})
    stride = span if window_stride is None else int(window_stride)
    if stride < 1:
        raise ValueError(f"window_stride={stride} must be >= 1")
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return starts


def _check_not_image(path):
    if str(path).lower().endswith(IMAGE_EXTENSIONS):
        raise VideoDecodeError(path, "is an image file, expected a video")
    if os.path.isfile(path):
        import cv2

        try:
            is_image = cv2.haveImageReader(str(path))
        except cv2.error:
            is_image = False
        if is_image:
            raise VideoDecodeError(path, "is an image file, expected a video")


def _top_k(probabilities, k, labels):
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        {
            "id": int(i),
            "name": labels[i] if labels is not None else str(int(i)),
            "score": float(probabilities[i]),
        }
        for i in order
    ]


class _ClipClassifier:
    """Argument checks, view preparation and scoring shared by the predictors."""

    def __init__(
        self,
        model,
        *,
        sampling_rate,
        num_crops,
        short_side,
        crop_size,
        labels,
        output_activation,
    ):
        if is_detection_model(model):
            raise ValueError(
                "video prediction classifies clips; a detection model also needs boxes"
            )
        if num_crops not in CROP_POSITIONS:
            raise ValueError(f"num_crops={num_crops} must be 1 or 3")
        self.sampling_rate = int(sampling_rate)
        if self.sampling_rate < 1:
            raise ValueError(f"sampling_rate={sampling_rate} must be >= 1")
        image_size = tuple(model.inputs[0].shape[2:4])
        if crop_size is None and None not in image_size:
            crop_size = image_size[0]
        self.short_side, self.crop_size = check_sizes(short_side, crop_size)
        if isinstance(labels, (str, os.PathLike)):
            labels = load_label_map(labels)
        self.num_classes = int(model.outputs[0].shape[-1])
        if labels is not None and len(labels) != self.num_classes:
            raise ValueError(
                f"the label map has {len(labels)} names, the model "
                f"{self.num_classes} classes"
            )
        self.labels = labels
        self.model = model
        self.activation = _resolve_activation(model, output_activation)
        self.convention = getattr(model, "input_convention", None)
        self.num_frames = int(model.inputs[0].shape[1])
        self.span = (self.num_frames - 1) * self.sampling_rate + 1
        self.positions = CROP_POSITIONS[num_crops]

    def views(self, frames):
        """uint8 ``(num_frames, H, W, 3)`` -> one normalized clip per crop."""
        return [
            np.asarray(
                preprocess_video(
                    frames[None],
                    short_side=self.short_side,
                    crop_size=self.crop_size,
                    input_convention=self.convention,
                    crop_position=position,
                )
            )
            for position in self.positions
        ]

    def scores(self, views):
        """Class probabilities ``(len(views), classes)`` of a list of clips."""
        batch = np.concatenate(views)
        scores = np.asarray(self.model.predict_on_batch(batch), dtype=np.float32)
        if self.activation == "softmax":
            scores = np.asarray(tf.nn.softmax(scores, axis=-1))
        elif self.activation == "sigmoid":
            scores = np.asarray(tf.sigmoid(scores))
        return scores


def predict_video(
    model,
    path,
    *,
    sampling_rate=2,
    num_clips=None,
    window_stride=None,
    num_crops=1,
    short_side=256,
    crop_size=224,
    top_k=5,
    labels=None,
    batch_size=4,
    output_activation="auto",
    verbose=1,
):
    """Classifies a whole video with sliding windows or uniformly spaced clips.

    Each window samples the model's ``num_frames`` frames every
    ``sampling_rate`` frames; each window is seen as ``num_crops`` spatial
    views whose probabilities are averaged; the video's probabilities are the
    mean over windows (the 30-view test protocol is ``num_clips=10,
    num_crops=3``).

    Args:
        model: a video classifier taking ``(batch, num_frames, H, W, 3)``
            normalized clips (e.g. ``SlowFastNet``).
        path: str. The video file.
        sampling_rate: int. Frame step inside a window.
        num_clips: int or None. Multi-view mode: this many uniformly spaced
            windows. None: sliding windows.
        window_stride: int or None. Frames between sliding windows (default:
            the window span, no overlap).
        num_crops: int. 1 (center) or 3 (both ends and center of the long side).
        short_side: int or None. Short side after resizing.
        crop_size: int or None. Square crop side; None uses the model's fixed
            ``image_size`` if it has one, else skips cropping.
        top_k: int. Classes reported per window and for the video.
        labels: list of names, a label map file, or None (names are ids).
        batch_size: int. Views per model call.
        output_activation: ``"auto"``, ``"softmax"``, ``"sigmoid"`` or
            ``"none"``, as in ``export_saved_model``.
        verbose: int. 1 shows a progress bar over the windows.

    Returns:
        dict (JSON-ready except ``probabilities``, a numpy array): ``path``,
        ``num_frames``, ``fps``, ``windows`` (each with ``start_frame``,
        ``end_frame``, ``start_time``, ``end_time``, ``top_k``), ``top_k`` and
        ``probabilities`` for the whole video. ``top_k`` entries are dicts
        ``{"id", "name", "score"}``.

    Raises:
        VideoDecodeError: the file is missing, an image, or not decodable.
        ValueError: bad arguments, or the video is shorter than one window.
    """
    classifier = _ClipClassifier(
        model,
        sampling_rate=sampling_rate,
        num_crops=num_crops,
        short_side=short_side,
        crop_size=crop_size,
        labels=labels,
        output_activation=output_activation,
    )
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    num_frames, span, labels = classifier.num_frames, classifier.span, classifier.labels
    num_classes = classifier.num_classes
    sampling_rate = classifier.sampling_rate

    path = os.fspath(path)
    _check_not_image(path)
    info = probe_video(path)
    if info.num_frames < span:
        raise VideoDecodeError(
            path,
            f"too short: {info.num_frames} frames, one window needs {span} "
            f"({num_frames} frames every {sampling_rate}); lower --sampling-rate",
        )
    starts = window_starts(
        info.num_frames, span, num_clips=num_clips, window_stride=window_stride
    )
    num_views = len(classifier.positions)
    progbar = keras.utils.Progbar(len(starts), unit_name="window") if verbose else None

    pending = []  # views waiting for a model call
    scores_per_view = []
    for done, start in enumerate(starts, 1):
        indices = start + sampling_rate * np.arange(num_frames)
        pending.extend(classifier.views(read_frames(path, indices)))
        if len(pending) >= batch_size:
            scores_per_view.append(classifier.scores(pending))
            pending = []
        if progbar is not None:
            progbar.update(done)
    if pending:
        scores_per_view.append(classifier.scores(pending))
    scores = np.concatenate(scores_per_view).reshape(len(starts), num_views, -1)
    window_probabilities = scores.mean(axis=1)
    video_probabilities = window_probabilities.mean(axis=0)

    k = min(int(top_k), num_classes)
    fps = info.fps if info.fps and math.isfinite(info.fps) else 0.0

    def seconds(frame):
        return round(frame / fps, 3) if fps else None

    windows = []
    for start, probabilities in zip(starts, window_probabilities, strict=True):
        end = start + span - 1
        windows.append(
            {
                "start_frame": int(start),
                "end_frame": int(end),
                "start_time": seconds(start),
                "end_time": seconds(end + 1),
                "top_k": _top_k(probabilities, k, labels),
            }
        )
    return {
        "path": path,
        "num_frames": info.num_frames,
        "fps": fps or None,
        "windows": windows,
        "top_k": _top_k(video_probabilities, k, labels),
        "probabilities": video_probabilities,
    }


def predict_stream(
    model,
    source,
    *,
    sampling_rate=2,
    every=None,
    num_crops=1,
    short_side=256,
    crop_size=224,
    top_k=5,
    labels=None,
    max_windows=None,
    output_activation="auto",
):
    """Classifies a live stream (camera, URL or file) with a rolling frame buffer.

    Frames are read one by one into a buffer holding one window (``(num_frames
    - 1) * sampling_rate + 1`` frames); every ``every`` new frames the
    buffered window is classified. A generator: iterate it and stop when you
    like (or pass ``max_windows``).

    Args:
        model: a video classifier, as for ``predict_video``.
        source: int or str. Camera index (``0``), stream URL or video file,
            anything ``cv2.VideoCapture`` opens.
        sampling_rate: int. Frame step inside a window.
        every: int or None. New frames between predictions (default: half a
            window, so windows overlap by half).
        num_crops, short_side, crop_size, top_k, labels, output_activation: as
            for ``predict_video``.
        max_windows: int or None. Stop after this many predictions.

    Yields:
        dict with ``start_frame``, ``end_frame`` (frame counters since the
        stream opened), ``top_k`` and ``probabilities`` (numpy array).

    Raises:
        ValueError: the source cannot be opened, or a bad argument.
    """
    import collections

    import cv2

    classifier = _ClipClassifier(
        model,
        sampling_rate=sampling_rate,
        num_crops=num_crops,
        short_side=short_side,
        crop_size=crop_size,
        labels=labels,
        output_activation=output_activation,
    )
    span = classifier.span
    every = max(span // 2, 1) if every is None else int(every)
    if every < 1:
        raise ValueError(f"every={every} must be >= 1")
    k = min(int(top_k), classifier.num_classes)
    if isinstance(source, str) and not source.isdigit() and "://" not in source:
        _check_not_image(source)
        if not os.path.exists(source):
            raise VideoDecodeError(source, "file not found")
    capture = cv2.VideoCapture(int(source) if str(source).isdigit() else source)
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"stream {source}: cannot open (no camera or bad URL)")
    buffer = collections.deque(maxlen=span)
    frame_index, since_last, produced = -1, 0, 0
    try:
        while max_windows is None or produced < max_windows:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            frame_index += 1
            since_last += 1
            buffer.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if len(buffer) < span or (produced and since_last < every):
                continue
            since_last = 0
            frames = np.stack(list(buffer)[:: classifier.sampling_rate])
            probabilities = classifier.scores(classifier.views(frames)).mean(axis=0)
            produced += 1
            yield {
                "start_frame": frame_index - span + 1,
                "end_frame": frame_index,
                "top_k": _top_k(probabilities, k, classifier.labels),
                "probabilities": probabilities,
            }
    finally:
        capture.release()


def format_table(result):
    """A plain-text table of one ``predict_video`` result."""
    rate = f"{result['fps']:g} fps" if result["fps"] else "unknown fps"
    lines = [f"{result['path']}  ({result['num_frames']} frames, {rate})"]
    lines.append(f"  {'window':>17s}  {'seconds':>15s}  top classes")
    for window in result["windows"]:
        frames = f"{window['start_frame']}-{window['end_frame']}"
        if window["start_time"] is None:
            seconds = "-"
        else:
            seconds = f"{window['start_time']:.2f}-{window['end_time']:.2f}"
        classes = ", ".join(f"{c['name']} {c['score']:.3f}" for c in window["top_k"])
        lines.append(f"  {frames:>17s}  {seconds:>15s}  {classes}")
    classes = ", ".join(f"{c['name']} {c['score']:.3f}" for c in result["top_k"])
    lines.append(f"  {'whole video':>17s}  {'':>15s}  {classes}")
    return "\n".join(lines)


def to_json(result):
    """The result as JSON-serializable data (probabilities as a list)."""
    return {**result, "probabilities": [float(p) for p in result["probabilities"]]}


def csv_rows(result):
    """CSV rows: video, window, start/end frame and time, rank, id, name, score."""
    rows = []
    entries = [(str(i), w) for i, w in enumerate(result["windows"])]
    whole = {
        "start_frame": 0,
        "end_frame": result["num_frames"] - 1,
        "start_time": 0.0 if result["fps"] else None,
        "end_time": round(result["num_frames"] / result["fps"], 3)
        if result["fps"]
        else None,
        "top_k": result["top_k"],
    }
    entries.append(("video", whole))
    for name, window in entries:
        for rank, entry in enumerate(window["top_k"], 1):
            rows.append(
                [
                    result["path"],
                    name,
                    window["start_frame"],
                    window["end_frame"],
                    window["start_time"],
                    window["end_time"],
                    rank,
                    entry["id"],
                    entry["name"],
                    f"{entry['score']:.6f}",
                ]
            )
    return rows


CSV_HEADER = [
    "video",
    "window",
    "start_frame",
    "end_frame",
    "start_time",
    "end_time",
    "rank",
    "class_id",
    "class_name",
    "score",
]
