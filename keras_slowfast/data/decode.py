"""Video decoding with OpenCV: probe a file, read selected frames as RGB uint8.

Only the frames a clip needs are decoded: the reader seeks near the first one
and grabs forward, retrieving (converting) only the wanted frames.
"""

import dataclasses
import os

import cv2
import numpy as np


class VideoDecodeError(ValueError):
    """A video file is missing, unreadable, empty or corrupt; names the file."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` learns about a file without decoding it."""

    path: str
    num_frames: int
    fps: float
    height: int
    width: int

    @property
    def duration(self):
        """Length in seconds."""
        return self.num_frames / self.fps if self.fps else 0.0


def _open(path):
    if not os.path.exists(path):
        raise VideoDecodeError(path, "file not found")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory, expected a video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoDecodeError(path, "not a readable video (OpenCV could not open it)")
    return capture


def probe_video(path):
    """Returns a :class:`VideoInfo` for ``path``.

    Raises:
        VideoDecodeError: the file is missing, not a video, or has no frames.
    """
    capture = _open(path)
    try:
        num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    finally:
        capture.release()
    if num_frames <= 0 or height <= 0 or width <= 0:
        raise VideoDecodeError(path, f"no decodable frames (frame count {num_frames})")
    return VideoInfo(str(path), num_frames, fps, height, width)


def read_frames(path, indices):
    """Decodes the frames at ``indices`` (any order, repeats allowed).

    Returns:
        uint8 array ``(len(indices), height, width, 3)`` in RGB order.

    Raises:
        VideoDecodeError: the file cannot be opened or a wanted frame cannot be
            decoded (truncated or corrupt file).
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        raise ValueError("indices must name at least one frame")
    if indices.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {indices.min()}")
    wanted = np.unique(indices)
    capture = _open(path)
    frames = {}
    try:
        position = int(wanted[0])
        if position > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, position)
            actual = int(capture.get(cv2.CAP_PROP_POS_FRAMES))
            if actual != position:  # inexact seek: restart and grab forward
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                position = 0
        wanted_set = set(int(i) for i in wanted)
        last = int(wanted[-1])
        while position <= last:
            if not capture.grab():
                break
            if position in wanted_set:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break
                frames[position] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            position += 1
    finally:
        capture.release()
    missing = [int(i) for i in wanted if int(i) not in frames]
    if missing:
        raise VideoDecodeError(
            path,
            f"could not decode frame(s) {missing[:5]}{'...' if len(missing) > 5 else ''}"
            " (truncated or corrupt file)",
        )
    return np.stack([frames[int(i)] for i in indices])
