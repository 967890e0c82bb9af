"""Classify a whole video or a live stream: sliding windows or multi-view, top-k.

``predict_video`` decodes a video window by window (only the frames a window
samples, at the instants of ``keras_slowfast.data.sampling.window_instants``),
prepares each view with the model's :class:`VideoPreprocessor` exactly like
the exported SavedModel's ``serving_default`` signature, and returns the
top-k classes of every window and of the whole video (mean of the window
probabilities). ``predict_stream`` does the same for a camera, URL or file
read frame by frame, one window at a time.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.data import sampling
from keras_slowfast.data.decode import (
    TIMESTAMP_TOLERANCE,
    VideoReader,
    check_not_image,
    frames_shown_at,
    stream_frames,
)
from keras_slowfast.export.runtime import ExportedModel
from keras_slowfast.labels import load_label_map
from keras_slowfast.models.preprocessor import VideoPreprocessor, preprocessor_of
from keras_slowfast.models.task import (
    DEFAULT_SAMPLING_RATE,
    DEFAULT_SHORT_SIDE,
    input_settings,
    is_detection_model,
    model_class_names,
    score_activation,
)

# Crop positions along each axis for 1- and 3-crop testing (PySlowFast: left,
# center, right of the long side after the short-side resize).
CROP_POSITIONS = {1: (0.5,), 3: (0.0, 0.5, 1.0)}


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
        self.exported = isinstance(model, ExportedModel)
        if (model.task == "detector") if self.exported else is_detection_model(model):
            raise ValueError(
                "video prediction classifies clips; a detection model also needs boxes"
            )
        if num_crops not in CROP_POSITIONS:
            raise ValueError(f"num_crops={num_crops} must be 1 or 3")
        if not self.exported:
            sampling_rate, short_side, crop_size = input_settings(
                model, sampling_rate, short_side, crop_size
            )
        elif sampling_rate is None:  # the exported model's, where recorded
            sampling_rate = model.metadata.get("sampling_rate")
        self.sampling_rate = int(sampling_rate or DEFAULT_SAMPLING_RATE)
        if self.sampling_rate < 1:
            raise ValueError(f"sampling_rate={sampling_rate} must be >= 1")
        short_side = short_side or DEFAULT_SHORT_SIDE
        if self.exported:
            self.num_classes = model.num_classes
            self.num_frames = model.num_frames
            self.activation = "none"  # applied in the exported graph
            image_size = tuple(model.metadata["image_size"])
        else:
            self.num_classes = int(model.outputs[0].shape[-1])
            self.num_frames = int(model.inputs[0].shape[1])
            self.activation = score_activation(
                model, output_activation, argument="output_activation"
            )
            image_size = tuple(model.inputs[0].shape[2:4])
        if self.exported and model.takes_raw_frames:
            # The file resizes and center-crops by itself, as exported.
            if num_crops != 1:
                raise ValueError(
                    f"num_crops={num_crops}: {model.path} takes raw frames and "
                    "crops their center only; export it with signature="
                    "'normalized' for 3-crop testing"
                )
            self.preprocessor = None
        else:
            if crop_size is None and None not in image_size:
                crop_size = image_size[0]
            self.preprocessor = VideoPreprocessor.from_convention(
                preprocessor_of(model).input_convention,
                short_side=short_side,
                crop_size=crop_size,
            )
        if isinstance(labels, (str, os.PathLike)):
            labels = load_label_map(labels)
        if labels is None:
            labels = model.labels if self.exported else model_class_names(model)
        if labels is not None and len(labels) != self.num_classes:
            raise ValueError(
                f"the label map has {len(labels)} names, the model "
                f"{self.num_classes} classes"
            )
        self.labels = labels
        self.model = model
        self.positions = CROP_POSITIONS[num_crops]

    def views(self, frames):
        """uint8 ``(num_frames, H, W, 3)`` -> one model input clip per crop.

        A file that preprocesses raw frames itself gets the frames as they are.
        """
        if self.preprocessor is None:
            return [np.asarray(frames, np.uint8)[None]]
        return [
            np.asarray(self.preprocessor(frames[None], crop_position=position))
            for position in self.positions
        ]

    def scores(self, views):
        """Class probabilities ``(len(views), classes)`` of a list of clips."""
        batch = np.concatenate(views)
        if self.exported:
            return self.model(batch)["probabilities"]
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
    sampling_rate=None,
    target_fps=30.0,
    num_clips=None,
    window_stride=None,
    num_crops=1,
    short_side=None,
    crop_size=None,
    top_k=5,
    labels=None,
    batch_size=4,
    output_activation="auto",
    backend="opencv",
    verbose=1,
):
    """Classifies a whole video with sliding windows or uniformly spaced clips.

    Each window shows the model's ``num_frames`` frames ``sampling_rate /
    target_fps`` seconds apart, taken by presentation time as in training
    (variable frame rates, wrong frame counts and damaged frames are read as a
    player shows them); each window is seen as ``num_crops`` spatial views
    whose probabilities are averaged; the video's probabilities are the mean
    over windows (the 30-view test protocol is ``num_clips=10,
    num_crops=3``, the same instants as the evaluation pipeline). One reader
    decodes the video once, front to back, for all windows.

    Args:
        model: a video classifier taking ``(batch, num_frames, H, W, 3)``
            clips in its input convention (``model.preprocessor``, else
            ``model.input_convention``; see ``preprocessor_of``), or an
            exported one (``keras_slowfast.export.ExportedModel``: ONNX
            Runtime, TFLite or a SavedModel), whose probabilities are used as
            the file gives them. A file exported with raw-frame input
            preprocesses the frames itself (``short_side`` and ``crop_size``
            as exported, center crop only); one with normalized input gets
            clips preprocessed here with the convention in its metadata.
        path: str. The video file.
        sampling_rate: int or None. Frame step inside a window, in frames at
            ``target_fps``; None: the model's own (its preprocessor's, as
            trained or published), else 2.
        target_fps: float or None. Rate the video is resampled to (30, as in
            training); None uses the video's own rate.
        num_clips: int or None. Multi-view mode: this many uniformly spaced
            windows. None: sliding windows.
        window_stride: float or None. Seconds between sliding windows
            (default: the window span, no overlap).
        num_crops: int. 1 (center) or 3 (both ends and center of the long side).
        short_side: int or None. Short side after resizing; None: the
            model's own, else 256.
        crop_size: int or None. Square crop side; None: the model's own, else
            its fixed ``image_size`` if it has one, else 224; 0: no crop.
        top_k: int. Classes reported per window and for the video.
        labels: list of names, a label map file, or None (the model's
            ``class_names``, else ids).
        batch_size: int. Views per model call.
        output_activation: ``"auto"``, ``"softmax"``, ``"sigmoid"`` or
            ``"none"``, as in ``export_saved_model``.
        backend: str. Decoder, ``"opencv"`` or ``"pyav"``.
        verbose: int. 1 shows a progress bar over the windows.

    Returns:
        dict (JSON-ready except ``probabilities``, a numpy array): ``path``,
        ``duration`` (seconds), ``fps`` (nominal), ``windows`` (each with
        ``start_time``, ``end_time`` in seconds and ``top_k``), ``top_k`` and
        ``probabilities`` for the whole video. ``top_k`` entries are dicts
        ``{"id", "name", "score"}``. A video shorter than one window gives
        one window whose last frames repeat the video's last frame.

    Raises:
        VideoDecodeError: the file is missing, an image, or has no decodable
            frame.
        ValueError: bad arguments.
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
    path = os.fspath(path)
    check_not_image(path)
    with VideoReader(path, backend=backend) as reader:
        info = reader.info
        windows = sampling.window_instants(
            info.duration,
            classifier.num_frames,
            classifier.sampling_rate,
            target_fps,
            num_clips=num_clips,
            window_stride=window_stride,
            video_fps=info.fps,
        )
        progbar = (
            keras.utils.Progbar(len(windows), unit_name="window") if verbose else None
        )
        pending = []  # views waiting for a model call
        scores_per_view = []
        for done, instants in enumerate(windows, 1):
            pending.extend(classifier.views(reader.frames_at(instants)))
            if len(pending) >= batch_size:
                scores_per_view.append(classifier.scores(pending))
                pending = []
            if progbar is not None:
                progbar.update(done)
    if pending:
        scores_per_view.append(classifier.scores(pending))
    num_views = len(classifier.positions)
    scores = np.concatenate(scores_per_view).reshape(len(windows), num_views, -1)
    window_probabilities = scores.mean(axis=1)
    video_probabilities = window_probabilities.mean(axis=0)
    k = min(int(top_k), classifier.num_classes)
    interval = sampling.clip_interval(classifier.sampling_rate, target_fps, info.fps)
    results = [
        {
            "start_time": round(float(instants[0]), 3),
            "end_time": round(float(instants[-1] + interval), 3),
            "top_k": _top_k(probabilities, k, classifier.labels),
        }
        for instants, probabilities in zip(windows, window_probabilities, strict=True)
    ]
    return {
        "path": path,
        "duration": round(info.duration, 3),
        "fps": info.fps or None,
        "windows": results,
        "top_k": _top_k(video_probabilities, k, classifier.labels),
        "probabilities": video_probabilities,
    }


def predict_stream(
    model,
    source,
    *,
    sampling_rate=None,
    target_fps=30.0,
    every=None,
    num_crops=1,
    short_side=None,
    crop_size=None,
    top_k=5,
    labels=None,
    max_windows=None,
    output_activation="auto",
):
    """Classifies a live stream (camera, URL or file) with a rolling frame buffer.

    Frames are read one by one, with their timestamps, into a buffer holding
    the last window (``num_frames * sampling_rate / target_fps`` seconds);
    every ``every`` new frames the window ending at the newest frame is
    classified, its frames taken by presentation time as in ``predict_video``.
    A generator: iterate it and stop when you like (or pass ``max_windows``).

    Args:
        model: a video classifier, as for ``predict_video``.
        source: int or str. Camera index (``0``), stream URL (read by
            OpenCV) or video file (read by ``VideoReader``).
        sampling_rate, target_fps: as for ``predict_video``.
        every: int or None. New frames between predictions (default: half a
            window at ``target_fps``).
        num_crops, short_side, crop_size, top_k, labels, output_activation: as
            for ``predict_video``.
        max_windows: int or None. Stop after this many predictions.

    Yields:
        dict with ``start_time``, ``end_time`` (seconds of the stream),
        ``top_k`` and ``probabilities`` (numpy array).

    Raises:
        ValueError: the source cannot be opened, or a bad argument.
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
    num_frames = classifier.num_frames
    interval = sampling.clip_interval(classifier.sampling_rate, target_fps)
    span = sampling.clip_span(num_frames, interval)
    every = (
        max(num_frames * classifier.sampling_rate // 2, 1)
        if every is None
        else int(every)
    )
    if every < 1:
        raise ValueError(f"every={every} must be >= 1")
    k = min(int(top_k), classifier.num_classes)
    if isinstance(source, str) and not source.isdigit() and "://" not in source:
        check_not_image(source)
        reader = VideoReader(source)
        frames = reader.iter_frames()
    else:
        reader = None
        frames = stream_frames(source)
    times, buffer = [], []
    since_last, produced = 0, 0
    try:
        for seconds, frame in frames:
            if max_windows is not None and produced >= max_windows:
                break
            times.append(seconds)
            buffer.append(frame)
            since_last += 1
            while len(times) > 1 and times[1] <= seconds - span:
                del times[0], buffer[0]
            full = seconds - times[0] >= span - interval - TIMESTAMP_TOLERANCE
            if not full or (produced and since_last < every):
                continue
            since_last = 0
            instants = sampling.clip_instants(
                seconds - (num_frames - 1) * interval, num_frames, interval
            )
            clip = np.stack([buffer[p] for p in frames_shown_at(times, instants)])
            probabilities = classifier.scores(classifier.views(clip)).mean(axis=0)
            produced += 1
            yield {
                "start_time": round(float(instants[0]), 3),
                "end_time": round(float(seconds + interval), 3),
                "top_k": _top_k(probabilities, k, classifier.labels),
                "probabilities": probabilities,
            }
    finally:
        frames.close()
        if reader is not None:
            reader.close()
