"""Detect the actions of people in a video, second by second (AVA style).

AVA (Gu et al., CVPR 2018) labels one keyframe per second, the middle of the
second; ``detect_video`` does the same for any video: for every second it
takes person boxes on the keyframe from a provider, builds the clip centred
on the keyframe (``keras_slowfast.data.sampling.keyframe_clip_instants``),
letterboxed like the AVA pipeline (``keras_slowfast.data.ava.letterbox``) and
normalized by the model's :class:`VideoPreprocessor`, and scores every box.

Person-box providers need no download: boxes you supply per second
(:func:`read_box_csv`), OpenCV's built-in HOG people detector where the
installed OpenCV has it (4.x; OpenCV 5 moved HOG out of the main package), or
moving regions against the video's median background (static cameras). A
provider is any callable ``provider(reader, second, keyframe)`` returning
boxes ``[(x1, y1, x2, y2), ...]`` in pixels of the video.
"""

import csv
import os

import cv2
import keras
import numpy as np

from keras_slowfast.data.ava import letterbox
from keras_slowfast.data.decode import VideoReader, check_not_image
from keras_slowfast.data.sampling import DEFAULT_TARGET_FPS, keyframe_clip_instants
from keras_slowfast.models.preprocessor import preprocessor_of
from keras_slowfast.models.task import input_settings

PERSON_DETECTORS = ("auto", "hog", "motion")


def read_box_csv(path):
    """``{second: [(x1, y1, x2, y2), ...]}`` from ``second,x1,y1,x2,y2`` rows.

    Boxes are in pixels of the video; a header row is skipped.

    Raises:
        ValueError: a row that is short, not numeric, or an empty box, naming
            the file and line.
    """
    boxes = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in ("", "second", "timestamp"):
                continue
            if len(row) < 5:
                raise ValueError(
                    f"{path}:{line}: expected 'second,x1,y1,x2,y2', got {row!r}"
                )
            try:
                second = int(float(row[0]))
                box = tuple(float(v) for v in row[1:5])
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: non-numeric value in {row!r}"
                ) from None
            if box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"{path}:{line}: box {box} needs x2 > x1 and y2 > y1")
            boxes.setdefault(second, []).append(box)
    return boxes


def has_hog():
    """Whether the installed OpenCV has the HOG people detector (4.x does)."""
    return hasattr(cv2, "HOGDescriptor") and hasattr(
        cv2, "HOGDescriptor_getDefaultPeopleDetector"
    )


def median_background(reader, samples=25):
    """Median of ``samples`` frames spread over the video: the static scene."""
    instants = np.linspace(0.0, reader.info.duration, samples, endpoint=False)
    return np.median(reader.frames_at(instants), axis=0).astype(np.uint8)


def motion_people(frame_rgb, background, min_area_fraction=0.002, threshold=30):
    """Boxes ``[(x1, y1, x2, y2)]`` of regions that differ from the background.

    A fallback person detector for static cameras: pixels whose largest
    channel difference to ``background`` exceeds ``threshold`` are closed
    into blobs, and each blob of at least ``min_area_fraction`` of the frame
    becomes a box (with a small margin).
    """
    difference = np.abs(frame_rgb.astype(np.int16) - background.astype(np.int16))
    mask = (difference.max(axis=-1) > threshold).astype(np.uint8)
    kernel = np.ones((5, 5), np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.dilate(mask, kernel)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = mask.shape
    boxes = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area_fraction * height * width:
            continue
        boxes.append(
            (
                float(max(x - 2, 0)),
                float(max(y - 2, 0)),
                float(min(x + w + 2, width)),
                float(min(y + h + 2, height)),
            )
        )
    return boxes


def _check_hog():
    if not has_hog():
        raise ValueError(
            f"this OpenCV ({cv2.__version__}) has no HOG people detector; "
            "use the motion detector, your own boxes, or OpenCV 4.x"
        )


def hog_people(frame_rgb, threshold=0.5):
    """Person boxes ``[(x1, y1, x2, y2)]`` on one RGB frame, OpenCV HOG + NMS.

    Small frames are upscaled so a 64x128 HOG window fits a person of about
    half the frame height.

    Raises:
        ValueError: the installed OpenCV has no HOG people detector.
    """
    _check_hog()
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    height = frame_rgb.shape[0]
    scale = max(1.0, 320.0 / height)
    image = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    if scale > 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale)
    rects, weights = hog.detectMultiScale(
        image, winStride=(8, 8), padding=(8, 8), scale=1.05
    )
    if len(rects) == 0:
        return []
    weights = np.asarray(weights, np.float32).reshape(-1)
    keep = cv2.dnn.NMSBoxes(
        [list(map(int, r)) for r in rects], weights.tolist(), threshold, 0.4
    )
    boxes = []
    for i in np.asarray(keep).reshape(-1):
        x, y, w, h = (float(v) / scale for v in rects[i])
        boxes.append((x, y, x + w, y + h))
    return boxes


class SuppliedBoxes:
    """Provider of given boxes: ``{second: [(x1, y1, x2, y2), ...]}`` in pixels.

    Seconds missing from the dict have no person.
    """

    name = "supplied"

    def __init__(self, boxes_per_second):
        self.boxes_per_second = {
            int(second): [tuple(float(v) for v in box) for box in boxes]
            for second, boxes in boxes_per_second.items()
        }

    def __call__(self, reader, second, keyframe):
        return self.boxes_per_second.get(second, [])


class HOGPeople:
    """Provider of OpenCV HOG person boxes on each keyframe (:func:`hog_people`).

    Args:
        threshold: float. Minimum SVM score of a box.

    Raises:
        ValueError: the installed OpenCV has no HOG people detector.
    """

    name = "hog"

    def __init__(self, threshold=0.5):
        _check_hog()
        self.threshold = float(threshold)

    def __call__(self, reader, second, keyframe):
        return hog_people(reader.frames_at([keyframe])[0], self.threshold)


class MotionPeople:
    """Provider of moving regions on each keyframe (:func:`motion_people`).

    The background is the median of the video being read, computed once per
    reader.
    """

    name = "motion"

    def __init__(self):
        self._reader = None
        self._background = None

    def __call__(self, reader, second, keyframe):
        if reader is not self._reader:
            self._background = median_background(reader)
            self._reader = reader
        return motion_people(reader.frames_at([keyframe])[0], self._background)


def person_boxes(source="auto", *, hog_threshold=0.5):
    """The person-box provider ``source`` names.

    Args:
        source: ``"auto"`` (HOG where OpenCV has it, else motion), ``"hog"``,
            ``"motion"``, a dict ``{second: [(x1, y1, x2, y2), ...]}`` of
            boxes in pixels, or a provider (a callable ``(reader, second,
            keyframe) -> boxes``), returned as it is.
        hog_threshold: float. Minimum HOG SVM score.

    Raises:
        ValueError: an unknown name, or ``"hog"`` without an OpenCV HOG.
    """
    if isinstance(source, dict):
        return SuppliedBoxes(source)
    if callable(source):
        return source
    if source not in PERSON_DETECTORS:
        raise ValueError(
            f"boxes={source!r} must be one of {PERSON_DETECTORS}, a dict of "
            "boxes per second, or a provider"
        )
    if source == "auto":
        source = "hog" if has_hog() else "motion"
    return HOGPeople(hog_threshold) if source == "hog" else MotionPeople()


def detect_video(
    model,
    path,
    *,
    boxes="auto",
    sampling_rate=None,
    target_fps=DEFAULT_TARGET_FPS,
    image_size=256,
    hog_threshold=0.5,
    backend="opencv",
    verbose=1,
):
    """Scores the actions of every person box in every second of a video.

    Second ``s`` is represented by its keyframe at ``s + 0.5`` seconds (the
    video's end for a last partial second). Its clip is the model's
    ``num_frames`` frames ``sampling_rate / target_fps`` seconds apart,
    centred on the keyframe, letterboxed to ``image_size`` squares and
    normalized by the model's preprocessor, as the AVA pipeline builds them.

    Args:
        model: a detector taking ``(video, boxes)``, boxes in pixels of the
            clip (``SlowFastDetector``), whose input convention is
            ``model.preprocessor`` (else ``model.input_convention``).
        path: str. The video.
        boxes: a person-box source for :func:`person_boxes`: ``"auto"``,
            ``"hog"``, ``"motion"``, a dict ``{second: [(x1, y1, x2, y2)]}``
            in pixels of the video (e.g. from :func:`read_box_csv`), or a
            provider.
        sampling_rate: int or None. Frame step of the clips at
            ``target_fps``; None: the model's own (as trained or published),
            else 2.
        target_fps: float. Rate the clip's frames are taken at.
        image_size: int. Side of the letterboxed clip.
        hog_threshold: float. Minimum HOG score (``"hog"`` and ``"auto"``).
        backend: str. Decoder, ``"opencv"`` or ``"pyav"``.
        verbose: int. 1 shows a progress bar over the seconds.

    Returns:
        dict: ``path``, ``duration``, ``fps``, ``width``, ``height``,
        ``person_boxes`` (the provider's ``name``, if it has one) and
        ``seconds``: one dict per second with ``second``, ``keyframe``
        (seconds), ``boxes`` float32 ``(num_boxes, 4)`` in pixels of the video
        and ``scores`` float32 ``(num_boxes, num_classes)``, the model's
        outputs.

    Raises:
        VideoDecodeError: the file is missing, an image or undecodable.
        ValueError: bad arguments.
    """
    image_size = int(image_size)
    if image_size < 1:
        raise ValueError(f"image_size={image_size} must be a positive number of pixels")
    sampling_rate = input_settings(model, sampling_rate)[0]
    if int(sampling_rate) < 1:
        raise ValueError(f"sampling_rate={sampling_rate} must be >= 1")
    if len(model.inputs) != 2:
        raise ValueError(
            f"the model has {len(model.inputs)} input(s); detect_video needs a "
            "detector taking (video, boxes)"
        )
    provider = person_boxes(boxes, hog_threshold=hog_threshold)
    preprocessor = preprocessor_of(model)
    num_frames = int(model.inputs[0].shape[1])
    num_classes = int(model.outputs[0].shape[-1])
    path = os.fspath(path)
    check_not_image(path)
    seconds_out = []
    with VideoReader(path, backend=backend) as reader:
        info = reader.info
        seconds = max(1, int(np.ceil(info.duration)))
        progbar = keras.utils.Progbar(seconds, unit_name="second") if verbose else None
        for second in range(seconds):
            keyframe = min(second + 0.5, info.duration)
            found = np.asarray(provider(reader, second, keyframe), np.float32)
            found = found.reshape(-1, 4)
            scores = np.zeros((0, num_classes), np.float32)
            if len(found):
                instants = keyframe_clip_instants(
                    keyframe, num_frames, sampling_rate, target_fps
                )
                frames, scale, pad = letterbox(reader.frames_at(instants), image_size)
                clip = np.asarray(preprocessor.normalize(frames[None]))
                pixels = found * np.float32(scale)
                pixels += np.float32([pad[0], pad[1], pad[0], pad[1]])
                scores = np.asarray(model([clip, pixels[None]], training=False))[0]
            seconds_out.append(
                {
                    "second": second,
                    "keyframe": float(keyframe),
                    "boxes": found,
                    "scores": scores.astype(np.float32),
                }
            )
            if progbar is not None:
                progbar.update(second + 1)
    return {
        "path": path,
        "duration": info.duration,
        "fps": info.fps or None,
        "width": info.width,
        "height": info.height,
        "person_boxes": getattr(provider, "name", None),
        "seconds": seconds_out,
    }
