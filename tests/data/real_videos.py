"""Test videos that look like the files real collections hold, written with PyAV.

Each frame carries its index in its pixels (``video_files.pattern_frame``), so a
test reads back which frame a clip got. The files: h264 with B-frames, a
variable frame rate with long gaps, a container frame count larger than the
decodable frames (moov at the front, the last frames cut off), MPEG-4 with
B-frames in AVI, an AVI with "repeat previous frame" entries, a file truncated
in the middle, a corrupt first key frame, and Cinepak.

``decoded_sequence`` is the reference: every (timestamp, frame) pair PyAV
decodes when reading the file front to back, in presentation order.
"""

import os
from fractions import Fraction

import av
import numpy as np

from tests.data.video_files import HEIGHT, WIDTH, frame_index, pattern_frame


def write_pyav_video(
    path, times, *, codec="libx264", rate=30, time_base=Fraction(1, 1000),
    options=None, container_options=None,
):  # fmt: skip
    """Writes pattern frame ``i`` at ``times[i]`` seconds; returns the path."""
    pixel_format = {"cinepak": "rgb24", "mjpeg": "yuvj420p"}.get(codec, "yuv420p")
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pixel_format
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        for index, seconds in enumerate(times):
            frame = av.VideoFrame.from_ndarray(pattern_frame(index), format="rgb24")
            frame = frame.reformat(format=pixel_format)
            frame.pts = int(round(seconds / time_base))
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return str(path)


def corrupt_packet(path, packet_number, keep=16, seed=0):
    """Overwrites one packet's payload (all but its first ``keep`` bytes) with
    random bytes, in place; the container is untouched."""
    with av.open(path) as container:
        packets = [
            (p.pos, p.size) for p in container.demux(video=0) if p.size and p.pos
        ]
    position, size = packets[packet_number]
    noise = np.random.default_rng(seed).integers(0, 256, size - keep, np.uint8)
    with open(path, "r+b") as handle:
        handle.seek(position + keep)
        handle.write(noise.tobytes())


def truncate(path, fraction):
    """Cuts the file to ``fraction`` of its bytes (likely inside a packet)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(int(size * fraction))


def drop_last_packets(path, count):
    """Cuts the file where its ``count``-th last packet starts: the index still
    lists those frames, the data is gone."""
    with av.open(path) as container:
        positions = sorted(p.pos for p in container.demux(video=0) if p.size)
    with open(path, "r+b") as handle:
        handle.truncate(positions[-count])


def write_real_videos(directory):
    """Writes the collection; returns ``{kind: path}``."""
    directory = str(directory)
    rng = np.random.default_rng(7)
    steady = [i / 30 for i in range(240)]
    gaps = np.cumsum(
        rng.choice([1 / 60, 1 / 30, 0.1, 0.7], size=150, p=[0.3, 0.5, 0.15, 0.05])
    )
    x264 = {"bf": "3", "g": "30"}
    videos = {
        "h264_bframes": write_pyav_video(
            f"{directory}/h264_bframes.mp4", steady, options=x264
        ),
        "variable_rate": write_pyav_video(
            f"{directory}/variable_rate.mkv", list(gaps - gaps[0]), options=x264
        ),
        "mpeg4_bframes": write_pyav_video(
            f"{directory}/mpeg4_bframes.avi",
            [i / 25 for i in range(200)],
            codec="mpeg4",
            rate=25,
            time_base=Fraction(1, 25),
            options={"bf": "2", "g": "25"},
        ),
        "repeat_entries": write_pyav_video(
            f"{directory}/repeat_entries.avi",
            [t / 15 for t in sorted(rng.choice(450, size=70, replace=False))],
            codec="mpeg4",
            rate=15,
            time_base=Fraction(1, 15),
        ),
        "cinepak": write_pyav_video(
            f"{directory}/cinepak.avi",
            [i / 10 for i in range(40)],
            codec="cinepak",
            rate=10,
            time_base=Fraction(1, 10),
        ),
    }
    count_off = write_pyav_video(
        f"{directory}/count_too_large.mp4",
        steady[:150],
        options=x264,
        container_options={"movflags": "faststart"},
    )
    drop_last_packets(count_off, 6)
    videos["count_too_large"] = count_off
    cut = write_pyav_video(f"{directory}/truncated.mkv", steady[:200], options=x264)
    truncate(cut, 0.5)
    videos["truncated"] = cut
    damaged = write_pyav_video(
        f"{directory}/bad_keyframe.mp4", steady[:120], options=x264
    )
    corrupt_packet(damaged, 0)
    videos["bad_keyframe"] = damaged
    return videos


def decoded_sequence(path):
    """Reference: ``(timestamps, frames)`` of every frame PyAV decodes front to
    back, packet by packet (a corrupt packet loses its frames), sorted by
    presentation time (seconds from the stream's start)."""
    pairs = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                seconds = float((frame.pts - start) * stream.time_base)
                pairs.append((seconds, frame.to_ndarray(format="rgb24")))
    pairs.sort(key=lambda pair: pair[0])
    return np.array([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def stamped_indices(frames):
    """The index each (possibly resized/cropped) frame carries."""
    return [frame_index(frame) for frame in frames]
