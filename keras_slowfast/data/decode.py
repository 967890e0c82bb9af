"""Video decoding by presentation time: the frame a player shows at an instant.

Every path of the library (training clips, evaluation views, ``predict_video``,
``predict_stream``, ``detect_video``, AVA keyframe clips) reads frames through
:class:`VideoReader`. A clip is "the frame shown at each of these instants"
(seconds from the start of the video stream): the last frame whose
presentation timestamp is at or before the instant, or the first frame for an
instant before it. Frames are never addressed by index, so the files real
collections hold all give full clips, as a player would show them: variable
frame rates, dropped or repeated frames ("repeat previous frame" entries in
AVI), timestamps that arrive out of order (packed B-frames), a container frame
count or duration that is off, a missing last frame, a damaged key frame. Only
a file with no decodable frame at all is an error (PyTorchVideo's
``EncodedVideo.get_clip`` addresses frames by time in the same way).

Two backends:

* ``"opencv"`` (default, always installed). Timestamps come from
  ``CAP_PROP_POS_MSEC`` after each grab. OpenCV reports 0 for a frame whose
  timestamp it does not know (for instance the frame flushed last from an AVI
  with B-frames); such a frame, and every frame of a file whose timestamps
  never advance, is placed one nominal frame interval (``1 / fps``; 30 fps if
  the file gives none) after the frame before it. A grab that fails (a damaged
  frame) is retried; 16 failures in a row end the file.
* ``"pyav"`` (the optional ``video`` extra, imported only when asked for).
  Timestamps are the decoded frames' ``pts``; a frame without one is placed
  as above. Each packet is decoded on its own, so a corrupt packet costs its
  frame(s) and decoding goes on.

Seeking: a window in the middle of a long video is read by seeking to the key
frame at or before the window's start (by timestamp), decoding forward and
stopping a few frames after the window's end. Consecutive windows of one
reader (``predict_video``, ``detect_video``) decode the frames they share once.

FFmpeg's own log lines ("[h264 @ 0x...] ...") do not reach stderr: PyAV's go to
the ``keras_slowfast`` logger at DEBUG level (PyAV ignores them unless that
logger is enabled for DEBUG when a file is opened); OpenCV's FFmpeg log level
is set to quiet through ``OPENCV_FFMPEG_LOGLEVEL`` (OpenCV cannot hand them to
Python; set the variable yourself, e.g. to 24, to see them on stdout).
"""

import bisect
import dataclasses
import logging
import os

# Before the first cv2.VideoCapture: OpenCV reads it once, when FFmpeg starts.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

BACKENDS = ("opencv", "pyav")
logger = logging.getLogger("keras_slowfast")

# Frames decoded past a window's last instant before the window is complete,
# once timestamps have arrived out of order since the last seek (packed
# B-frames, broken muxers): a frame shown inside the window can then be decoded
# after one shown later. While they arrive in order, one frame past the end
# closes the window.
REORDER_DEPTH = 4
# Forward decoding beats a seek for a window starting this close after the
# last decoded frame.
SEEK_AHEAD_SECONDS = 2.0
# How far before a window to seek again when a seek lands after the window's
# start (inexact seeks, damaged key frames); then from the file's start.
SEEK_BACKOFF_SECONDS = (1.0, 5.0)
# Timestamps equal within this many seconds are the same instant (container
# time bases round; 1 / 30 s is not exact in floating point).
TIMESTAMP_TOLERANCE = 1e-4
DEFAULT_FPS = 30.0
# Consecutive failed ``grab()`` calls that mean the end of the file: OpenCV
# fails once on a damaged frame (a corrupt first key frame) and then goes on.
OPENCV_GRAB_ATTEMPTS = 16
# Still images OpenCV would open as one-frame "videos".
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class VideoDecodeError(ValueError):
    """A video file is missing, unreadable, empty or has no decodable frame."""

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container says about a file, learned without decoding it.

    Attributes:
        path: str. The file.
        num_frames: int. The container's frame count (may be off, 0 if none).
        fps: float. The nominal frame rate (0 if unknown).
        height: int. Frame height in pixels.
        width: int. Frame width in pixels.
        duration: float. Length in seconds: the container's duration, else
            ``num_frames / fps`` (0 if neither is known). Clip sampling uses
            it; instants past the last frame show the last frame.
    """

    path: str
    num_frames: int
    fps: float
    height: int
    width: int
    duration: float


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


def check_not_image(path):
    """Raises a VideoDecodeError when ``path`` is a still image, not a video.

    By extension, then by asking OpenCV whether it reads the file as an image.
    """
    if str(path).lower().endswith(IMAGE_EXTENSIONS):
        raise VideoDecodeError(path, "is an image file, expected a video")
    if os.path.isfile(path):
        try:
            is_image = cv2.haveImageReader(str(path))
        except cv2.error:
            is_image = False
        if is_image:
            raise VideoDecodeError(path, "is an image file, expected a video")


def check_instants(instants):
    """``instants`` as a float64 vector of finite seconds (ValueError if bad)."""
    instants = np.asarray(instants, dtype=np.float64).reshape(-1)
    if instants.size == 0:
        raise ValueError("instants must name at least one time")
    if not np.all(np.isfinite(instants)):
        raise ValueError(f"instants must be finite seconds, got {instants}")
    return instants


def frames_shown_at(timestamps, instants):
    """Positions in ``timestamps`` (sorted seconds) of the frames shown at
    ``instants``: the last frame at or before each instant, else the first."""
    positions = np.searchsorted(
        np.asarray(timestamps, np.float64),
        np.asarray(instants, np.float64) + TIMESTAMP_TOLERANCE,
        side="right",
    )
    return np.maximum(positions - 1, 0)


class _Timestamper:
    """Seconds of each decoded frame; fills gaps in the source's timestamps.

    ``None`` (unknown) becomes the previous timestamp plus ``1 / fps``; so does
    a 0 after a later frame when ``zero_is_unknown`` (OpenCV's convention).
    """

    def __init__(self, fps, zero_is_unknown=False):
        fps = fps if fps and np.isfinite(fps) and fps > 0 else DEFAULT_FPS
        self.interval = 1.0 / fps
        self.zero_is_unknown = zero_is_unknown
        self.previous = None

    def __call__(self, seconds):
        unknown = seconds is None or (
            self.zero_is_unknown and seconds == 0.0 and self.previous is not None
        )
        if unknown:
            seconds = 0.0 if self.previous is None else self.previous + self.interval
        self.previous = seconds
        return seconds


class _Source:
    """A backend: container facts (``info``) and frames with timestamps.

    Subclasses open the file (``reopen``), seek (``seek``), yield ``(seconds or
    None, payload)`` in decoding order (``decode``) and turn a payload into an
    RGB array (``to_rgb``), which the reader calls only for frames it returns.
    """

    zero_is_unknown = False  # a 0 timestamp after a later one means "unknown"

    def frames(self, seconds):
        """Yields ``(seconds, payload)`` from the key frame at or before
        ``seconds`` (None: from the file's start), in decoding order."""
        if seconds is None:
            if not self.fresh:  # reopening is the one exact way back to frame 0
                self.close()
                self.reopen()
        elif not self.seek(seconds):
            return
        self.fresh = False
        stamp = _Timestamper(self.info.fps, self.zero_is_unknown)
        for when, payload in self.decode():
            yield stamp(when), payload


class _OpenCVSource(_Source):
    """Frames and timestamps from ``cv2.VideoCapture``."""

    zero_is_unknown = True

    def __init__(self, path):
        self.path = str(path)
        self.reopen()
        get = self.capture.get
        num_frames = max(int(get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        fps = float(get(cv2.CAP_PROP_FPS) or 0.0)
        fps = fps if np.isfinite(fps) and fps > 0 else 0.0
        self.info = VideoInfo(
            self.path,
            num_frames,
            fps,
            int(get(cv2.CAP_PROP_FRAME_HEIGHT)),
            int(get(cv2.CAP_PROP_FRAME_WIDTH)),
            num_frames / fps if fps else 0.0,
        )

    def reopen(self):
        self.fresh = True
        self.capture = cv2.VideoCapture(self.path)
        if not self.capture.isOpened():
            self.capture.release()
            raise VideoDecodeError(
                self.path, "not a readable video (OpenCV could not open it)"
            )

    def seek(self, seconds):
        return self.capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000.0)

    def decode(self):
        capture = self.capture
        failures = 0
        while failures < OPENCV_GRAB_ATTEMPTS:
            if not capture.grab():
                failures += 1
                continue
            failures = 0
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                logger.debug("%s: OpenCV could not retrieve a grabbed frame", self.path)
                continue
            milliseconds = capture.get(cv2.CAP_PROP_POS_MSEC)
            yield milliseconds / 1000.0 if np.isfinite(milliseconds) else None, frame

    def to_rgb(self, frame):
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self):
        self.capture.release()


_PYAV_LOGS_ROUTED = []


def _route_pyav_logs(av):
    """Sends FFmpeg's log lines, through PyAV, to our logger at DEBUG level."""
    if _PYAV_LOGS_ROUTED or not logger.isEnabledFor(logging.DEBUG):
        return

    class ToDebug(logging.Handler):
        def emit(self, record):
            logger.debug("FFmpeg %s: %s", record.name, record.getMessage().strip())

    libav = logging.getLogger("libav")
    libav.addHandler(ToDebug())
    libav.propagate = False
    av.logging.set_level(av.logging.WARNING)
    _PYAV_LOGS_ROUTED.append(True)


class _PyAVSource(_Source):
    """Frames and timestamps from PyAV, one packet decoded at a time."""

    def __init__(self, path):
        self.path = str(path)
        try:
            import av  # noqa: PLC0415 -- optional extra, imported on demand
        except ImportError as error:
            raise ImportError(
                "backend='pyav' needs PyAV: pip install keras_slowfast[video]"
            ) from error
        self.av = av
        _route_pyav_logs(av)
        self.reopen()
        stream = self.stream
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        num_frames = int(stream.frames or 0)
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif self.container.duration:
            duration = self.container.duration / av.time_base
        else:
            duration = num_frames / fps if fps else 0.0
        if num_frames <= 0 and fps:
            num_frames = int(round(duration * fps))
        context = stream.codec_context
        self.info = VideoInfo(
            self.path,
            num_frames,
            fps,
            int(context.height or 0),
            int(context.width or 0),
            duration,
        )

    def reopen(self):
        self.fresh = True
        try:
            self.container = self.av.open(self.path)
        except Exception as error:  # PyAV raises many FFmpeg error types.
            raise VideoDecodeError(
                self.path, f"not a readable video (PyAV: {error})"
            ) from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoDecodeError(self.path, "has no video stream")
        self.stream = self.container.streams.video[0]
        self.start_pts = self.stream.start_time or 0

    def seek(self, seconds):
        offset = int(seconds / float(self.stream.time_base))
        try:
            self.container.seek(
                self.start_pts + offset, stream=self.stream, backward=True
            )
        except self.av.FFmpegError as error:
            logger.debug("%s: seek to %.3f s failed (%s)", self.path, seconds, error)
            return False
        return True

    def decode(self):
        time_base = self.stream.time_base
        for packet in self.container.demux(self.stream):
            try:
                decoded = packet.decode()
            except self.av.FFmpegError as error:
                logger.debug("%s: skipped a corrupt packet (%s)", self.path, error)
                continue
            for frame in decoded:
                pts = frame.pts
                yield (
                    None if pts is None else float((pts - self.start_pts) * time_base),
                    frame,
                )

    def to_rgb(self, frame):
        try:
            return frame.to_ndarray(format="rgb24")
        except self.av.FFmpegError as error:
            raise VideoDecodeError(
                self.path, f"cannot convert a decoded frame ({error})"
            ) from None

    def close(self):
        self.container.close()


class _RGB:
    """A buffered frame already converted to an RGB array."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


class VideoReader:
    """An open video file whose frames are read by presentation time.

    Use one reader for all the clips of a video: consecutive windows decode the
    frames they share once, and a window far from the last one seeks. Close
    it, or use ``with``.

    Args:
        path: str. The video file.
        backend: str. ``"opencv"`` (default) or ``"pyav"`` (needs the ``video``
            extra).

    Attributes:
        info: :class:`VideoInfo`. What the container says (frame count, fps,
            size, duration).

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, or has no
            video stream.

    Examples:
        >>> with VideoReader("clip.mp4") as reader:  # doctest: +SKIP
        ...     clip = reader.frames_at([0.0, 0.5, 1.0])  # (3, H, W, 3) uint8
    """

    def __init__(self, path, backend="opencv"):
        _check_backend(backend)
        path = os.fspath(path)
        _check_path(path)
        source_class = _OpenCVSource if backend == "opencv" else _PyAVSource
        self._source = source_class(path)
        self.path = str(path)
        self.backend = backend
        self.info = self._source.info
        self._timestamps = []  # sorted seconds of the buffered frames
        self._frames = []  # their source payloads, then RGB arrays once used
        self._decoder = None  # generator of (seconds, payload) since the last seek
        self._exhausted = False
        self._in_order = True
        self._from_start = False  # the buffer starts at the file's first frame

    def _restart(self, seconds):
        self._timestamps, self._frames = [], []
        self._exhausted = False
        self._in_order = True  # timestamps have arrived sorted since the seek
        self._from_start = seconds is None
        self._decoder = self._source.frames(seconds)

    def _pull(self):
        """Decodes one more frame into the buffer; False at the end."""
        try:
            seconds, frame = next(self._decoder)
        except StopIteration:
            self._exhausted = True
            return False
        position = bisect.bisect_right(self._timestamps, seconds)
        self._in_order &= position == len(self._timestamps)
        self._timestamps.insert(position, seconds)
        self._frames.insert(position, frame)
        return True

    def _covers(self, start):
        """Whether the buffer knows the frame shown at ``start``."""
        if self._from_start:
            return True
        return bool(self._timestamps) and self._timestamps[0] <= start + (
            TIMESTAMP_TOLERANCE
        )

    def _can_continue(self, start):
        if self._decoder is None or not self._covers(start):
            return False
        last = self._timestamps[-1] if self._timestamps else float("-inf")
        return self._exhausted or start - last <= SEEK_AHEAD_SECONDS

    def _seek(self, start):
        """Positions the decoder so that the buffer covers ``start``."""
        for backoff in (0.0, *SEEK_BACKOFF_SECONDS):
            target = start - backoff
            if target <= 0:
                break
            self._restart(target)
            while not self._timestamps and self._pull():
                pass
            if self._covers(start):
                return
        self._restart(None)

    def frames_at(self, instants):
        """The frames shown at ``instants`` (seconds from the stream's start).

        Args:
            instants: float seconds, any order, repeats allowed. An instant
                before the first frame gets the first frame; one past the last
                frame gets the last.

        Returns:
            uint8 array ``(len(instants), height, width, 3)`` in RGB order.

        Raises:
            VideoDecodeError: the file has no decodable frame.
        """
        instants = check_instants(instants)
        start, end = float(instants.min()), float(instants.max())
        if not self._can_continue(start):
            self._seek(start)
        while not self._exhausted:
            past_end = len(self._timestamps) - bisect.bisect_right(
                self._timestamps, end + TIMESTAMP_TOLERANCE
            )
            if past_end >= (1 if self._in_order else REORDER_DEPTH):
                break
            if not self._pull():
                break
        if not self._timestamps:
            raise VideoDecodeError(self.path, "no decodable frames")
        positions = frames_shown_at(self._timestamps, instants)
        clip = np.stack([self._rgb(p) for p in positions])
        # Keep what later windows (at or after ``start``) may still show.
        keep = int(frames_shown_at(self._timestamps, [start])[0])
        if keep:
            del self._timestamps[:keep], self._frames[:keep]
            self._from_start = False
        return clip

    def _rgb(self, position):
        """The buffered frame at ``position`` as RGB, converted once (only the
        frames a clip shows pay for the color conversion)."""
        frame = self._frames[position]
        if not isinstance(frame, _RGB):
            frame = self._frames[position] = _RGB(self._source.to_rgb(frame))
        return frame.array

    def iter_frames(self):
        """Yields ``(seconds, rgb)`` for every decodable frame, in presentation
        order, from the file's start (frames are reordered within
        ``REORDER_DEPTH``)."""
        self._restart(None)
        more = True
        while more:
            more = self._pull()
            keep = REORDER_DEPTH if more else 0
            while len(self._timestamps) > keep:
                rgb = self._rgb(0)
                del self._frames[0]
                yield self._timestamps.pop(0), rgb
        self._decoder = None

    def close(self):
        """Releases the file."""
        self._decoder = None
        self._source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def stream_frames(source):
    """Yields ``(seconds, rgb)`` from a live source (camera index or stream URL)
    opened with OpenCV, timestamps as for files (``CAP_PROP_POS_MSEC``, gaps
    filled at the nominal rate).

    Raises:
        ValueError: the source cannot be opened.
    """
    capture = cv2.VideoCapture(int(source) if str(source).isdigit() else source)
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"stream {source}: cannot open (no camera or bad URL)")
    stamp = _Timestamper(capture.get(cv2.CAP_PROP_FPS), zero_is_unknown=True)
    try:
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                return
            milliseconds = capture.get(cv2.CAP_PROP_POS_MSEC)
            seconds = milliseconds / 1000.0 if milliseconds > 0 else None
            yield stamp(seconds), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def probe_video(path, backend="opencv"):
    """Returns the :class:`VideoInfo` of ``path`` (container facts, no decoding).

    Raises:
        VideoDecodeError: the file is missing or not a video.
    """
    with VideoReader(path, backend=backend) as reader:
        return reader.info


def read_frames_at(path, instants, backend="opencv"):
    """The frames of ``path`` shown at ``instants`` (seconds), as RGB uint8.

    Opens the file for this one read; keep a :class:`VideoReader` open to read
    several clips of one video.

    Returns:
        uint8 array ``(len(instants), height, width, 3)`` in RGB order.

    Raises:
        VideoDecodeError: the file cannot be opened or has no decodable frame.
    """
    instants = check_instants(instants)
    with VideoReader(path, backend=backend) as reader:
        return reader.frames_at(instants)
