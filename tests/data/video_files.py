"""Test videos whose pixels say which frame and which column they come from.

Frame ``i`` (< 256) of a ``96 x 128`` test video: rows 0-63 hold the 8 bits of ``i``
as full-width stripes 8 rows tall (white = 1), so a frame's index survives
codec loss, horizontal crops and flips; rows 64-95 hold 8 vertical bars 16
columns wide with gray level ``32 * bar``, so crop offsets and flips can be
read back. Stripes and bars align with 8x8 codec blocks.
"""

import cv2
import numpy as np

HEIGHT, WIDTH = 96, 128
BAR_WIDTH = 16


def pattern_frame(index):
    """The uint8 RGB frame ``index`` of a test video."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for bit in range(8):
        if (index >> bit) & 1:
            frame[bit * 8 : (bit + 1) * 8] = 255
    for bar in range(WIDTH // BAR_WIDTH):
        frame[64:, bar * BAR_WIDTH : (bar + 1) * BAR_WIDTH] = bar * 32
    return frame


def write_video(path, num_frames, fps=30.0, fourcc="MJPG"):
    """Writes ``num_frames`` pattern frames to ``path``; returns the path."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (WIDTH, HEIGHT)
    )
    assert writer.isOpened(), f"cannot write {path}"
    for index in range(num_frames):
        writer.write(cv2.cvtColor(pattern_frame(index), cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


def frame_index(frame):
    """Reads the frame index back from a decoded frame (H >= 64 rows kept)."""
    frame = np.asarray(frame, np.float32)
    scale = frame.shape[0] / HEIGHT
    index = 0
    for bit in range(8):
        row = int((bit * 8 + 4) * scale)
        if frame[row].mean() > 128:
            index |= 1 << bit
    return index


def column_profile(frame):
    """Mean gray level of each column of the bar band (the bottom 8 rows)."""
    return np.asarray(frame, np.float32)[-8:].mean(axis=(0, 2))


def unnormalize(clip, mean=0.45, std=0.225):
    """Normalized float clip -> uint8-range float RGB."""
    return (np.asarray(clip) * std + mean) * 255.0


def write_broken_files(directory):
    """Writes one of each kind of bad file; returns {kind: path}."""
    directory = str(directory)
    good = write_video(f"{directory}/_good_source.mp4", 60, fourcc="mp4v")
    data = open(good, "rb").read()
    paths = {
        "truncated": f"{directory}/truncated.mp4",
        "random_bytes": f"{directory}/random.mp4",
        "empty": f"{directory}/empty.mp4",
        "text": f"{directory}/notes.avi",
        "zero_frames": f"{directory}/zero.avi",
    }
    with open(paths["truncated"], "wb") as handle:
        handle.write(data[: len(data) // 2])
    rng = np.random.default_rng(0)
    with open(paths["random_bytes"], "wb") as handle:
        handle.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    open(paths["empty"], "wb").close()
    with open(paths["text"], "w") as handle:
        handle.write("this is not a video\n" * 50)
    write_video(paths["zero_frames"], 0)
    return paths
