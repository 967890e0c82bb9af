"""Video decoding: probe a file, read selected frames as RGB uint8.

Two backends: OpenCV (``"opencv"``, the default, always installed) and PyAV
(``"pyav"``, the optional ``video`` extra, imported only when asked for). Both
decode only the frames a clip needs: the reader seeks to the key frame at or
before the first wanted frame and decodes forward to the last one, so a clip
from a long video never holds the whole video in memory.
"""

import dataclasses
import os

import cv2
import numpy as np

BACKENDS = ("opencv", "pyav")


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


def _check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} must be one of {BACKENDS}")


def _check_path(path):
    if not os.path.exists(path):
        raise VideoDecodeError(path, "file not found")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory, expected a video file")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file")


def _check_indices(indices):
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise ValueError("indices must name at least one frame")
    if indices.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {indices.min()}")
    return indices


def _missing_error(path, wanted, frames):
    missing = [int(i) for i in wanted if int(i) not in frames]
    if missing:
        more = "..." if len(missing) > 5 else ""
        raise VideoDecodeError(
            path,
            f"could not decode frame(s) {missing[:5]}{more} "
            "(truncated or corrupt file)",
        )


class _OpenCVReader:
    def __init__(self, path):
        _check_path(path)
        self.path = str(path)
        self.capture = cv2.VideoCapture(self.path)
        if not self.capture.isOpened():
            self.capture.release()
            raise VideoDecodeError(
                path, "not a readable video (OpenCV could not open it)"
            )
        get = self.capture.get
        self.info = VideoInfo(
            self.path,
            int(get(cv2.CAP_PROP_FRAME_COUNT)),
            float(get(cv2.CAP_PROP_FPS) or 0.0),
            int(get(cv2.CAP_PROP_FRAME_HEIGHT)),
            int(get(cv2.CAP_PROP_FRAME_WIDTH)),
        )

    def read(self, wanted):
        capture = self.capture
        frames = {}
        position = int(wanted[0])
        if position > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, position)
            if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != position:
                # Inexact seek: restart and grab forward.
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
        return frames

    def close(self):
        self.capture.release()


class _PyAVReader:
    def __init__(self, path):
        _check_path(path)
        try:
            import av  # noqa: PLC0415 -- optional extra, imported on demand
        except ImportError as error:
            raise ImportError(
                "backend='pyav' needs PyAV: pip install keras_slowfast[video]"
            ) from error
        self.path = str(path)
        try:
            self.container = av.open(self.path)
        except Exception as error:  # PyAV raises many FFmpeg error types.
            raise VideoDecodeError(
                path, f"not a readable video (PyAV: {error})"
            ) from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoDecodeError(path, "has no video stream")
        stream = self.stream = self.container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        num_frames = int(stream.frames or 0)
        if num_frames <= 0 and stream.duration and stream.time_base and fps:
            num_frames = int(round(float(stream.duration * stream.time_base) * fps))
        self.start_pts = stream.start_time or 0
        ctx = stream.codec_context
        self.info = VideoInfo(
            self.path, num_frames, fps, int(ctx.height or 0), int(ctx.width or 0)
        )

    def _frame_index(self, frame, counter):
        if frame.pts is None or not self.info.fps or not self.stream.time_base:
            return counter
        seconds = float((frame.pts - self.start_pts) * self.stream.time_base)
        return int(round(seconds * self.info.fps))

    def _decode_from(self, first, wanted_set, last, frames):
        """Decodes forward from the key frame before ``first``; returns the index
        of the first decoded frame (or None if none decoded)."""
        if first > 0 and self.info.fps and self.stream.time_base:
            seconds = first / self.info.fps
            offset = int(seconds / float(self.stream.time_base))
            self.container.seek(
                self.start_pts + offset, stream=self.stream, backward=True
            )
            counter = None
        else:
            self.container.seek(self.start_pts, stream=self.stream, backward=True)
            counter = 0
        first_seen = None
        for frame in self.container.decode(self.stream):
            if counter is None and frame.pts is None:
                return None  # cannot place frames after a seek without pts
            index = self._frame_index(frame, counter)
            if first_seen is None:
                first_seen = index
            if index in wanted_set and index not in frames:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= last:
                break
            counter = index + 1
        return first_seen

    def read(self, wanted):
        frames = {}
        wanted_set = set(int(i) for i in wanted)
        first, last = int(wanted[0]), int(wanted[-1])
        try:
            first_seen = self._decode_from(first, wanted_set, last, frames)
            if first > 0 and (first_seen is None or first_seen > first):
                frames.clear()  # seek overshot or unusable: decode from the start
                self._decode_from(0, wanted_set, last, frames)
        except Exception as error:  # FFmpeg decode errors on corrupt data
            if len(frames) < len(wanted_set):
                raise VideoDecodeError(
                    self.path, f"decoding failed ({error})"
                ) from None
        return frames

    def close(self):
        self.container.close()


class VideoReader:
    """An open video file: its :class:`VideoInfo` and a frame reader.

    Use it to probe and read a clip with one open (``probe_video`` then
    ``read_frames`` would open the file twice). Close it, or use ``with``.

    Args:
        path: str. The video file.
        backend: str. ``"opencv"`` (default) or ``"pyav"`` (needs the ``video``
            extra).

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, or has no
            frames.

    Examples:
        >>> with VideoReader("clip.mp4") as reader:  # doctest: +SKIP
        ...     frames = reader.read([0, 2, 4])
    """

    def __init__(self, path, backend="opencv"):
        _check_backend(backend)
        reader_class = _OpenCVReader if backend == "opencv" else _PyAVReader
        self._reader = reader_class(path)
        self.path = str(path)
        self.backend = backend
        self.info = self._reader.info
        if self.info.num_frames <= 0 or self.info.height <= 0 or self.info.width <= 0:
            self.close()
            raise VideoDecodeError(
                path, f"no decodable frames (frame count {self.info.num_frames})"
            )

    def read(self, indices):
        """Decodes the frames at ``indices`` (any order, repeats allowed).

        Returns:
            uint8 array ``(len(indices), height, width, 3)`` in RGB order.

        Raises:
            VideoDecodeError: a wanted frame cannot be decoded (truncated or
                corrupt file, or an index past the end).
        """
        indices = _check_indices(indices)
        wanted = np.unique(indices)
        frames = self._reader.read(wanted)
        _missing_error(self.path, wanted, frames)
        return np.stack([frames[int(i)] for i in indices])

    def close(self):
        """Releases the file."""
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def probe_video(path, backend="opencv"):
    """Returns a :class:`VideoInfo` for ``path`` (frame count, fps, size).

    Raises:
        VideoDecodeError: the file is missing, not a video, or has no frames.
    """
    with VideoReader(path, backend=backend) as reader:
        return reader.info


def read_frames(path, indices, backend="opencv"):
    """Decodes the frames at ``indices`` of ``path`` as RGB uint8.

    Returns:
        uint8 array ``(len(indices), height, width, 3)`` in RGB order.

    Raises:
        VideoDecodeError: the file cannot be opened or a wanted frame cannot be
            decoded (truncated or corrupt file).
    """
    indices = _check_indices(indices)
    with VideoReader(path, backend=backend) as reader:
        return reader.read(indices)
