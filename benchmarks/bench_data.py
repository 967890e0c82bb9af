"""Training-clip throughput and memory: our tf.data pipeline vs PyTorchVideo.

Generates real-sized videos (default 6 x 10 s, 640x480, 30 fps, h264 with
B-frames written by PyAV's libx264, as phones and YouTube deliver; ``--codec
mp4v`` for MPEG-4 Part 2 as before) in a temp dir, then, each loader in its own
subprocess on the same files, draws SlowFast training clips (32 frames at
sampling rate 2, short-side jitter [256, 320], random 224 crop, horizontal flip,
0.45/0.225 normalization)
and reports clips per second, CPU seconds per clip (user + system, all
threads and worker processes), and resident memory (RSS) sampled along the
run.

Loaders:
* ``ours-opencv``: ``VideoClipDataset.build(training=True)``, OpenCV decoding.
* ``ours-pyav``: the same pipeline with ``backend="pyav"``.
* ``pytorchvideo``: ``pytorchvideo.data.LabeledVideoDataset`` with PyAV
  decoding, ``RandomClipSampler`` over the same 64/30 s span, and the same
  transforms written in torch (temporal subsample to 32, short-side scale,
  crop, flip, normalize), in a ``DataLoader`` with the same worker count.

Run: ``python benchmarks/bench_data.py`` (see ``--help``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MEAN, STD = 0.45, 0.225
_TICKS = os.sysconf("SC_CLK_TCK")


# -- process accounting from /proc (no psutil needed) ------------------------


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _tree(pid):
    pids = [pid]
    for child in _children(pid):
        pids.extend(_tree(child))
    return pids


def rss_mb(pid=None):
    """Resident memory of a process and its descendants, in MiB."""
    total = 0
    for each in _tree(pid or os.getpid()):
        try:
            with open(f"/proc/{each}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pid=None):
    """user + system CPU seconds of a process and its live descendants."""
    total = 0
    for each in _tree(pid or os.getpid()):
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / _TICKS


# -- test videos ---------------------------------------------------------------


def _frames(count, seconds, width, height, fps):
    """Yields the BGR frames of ``count`` textured, moving videos, video by video."""
    import cv2  # noqa: PLC0415

    rng = np.random.default_rng(0)
    num_frames = int(seconds * fps)
    for _ in range(count):
        # Smooth texture twice the frame size, panned over time, plus moving
        # blocks: real motion for the codec, realistic file sizes.
        texture = rng.integers(0, 256, (height // 8, width // 4, 3), dtype=np.uint8)
        texture = cv2.resize(
            texture, (2 * width, height), interpolation=cv2.INTER_CUBIC
        )

        def video(texture=texture):
            for frame_index in range(num_frames):
                shift = int(frame_index * width / num_frames)
                frame = texture[:, shift : shift + width].copy()
                for block in range(4):
                    x = (frame_index * (3 + block) * 2 + block * 150) % (width - 80)
                    y = (block * 110 + frame_index) % (height - 80)
                    frame[y : y + 80, x : x + 80] = (60 * block, 255 - 60 * block, 128)
                yield frame

        yield video()


def make_videos(directory, count, seconds, width, height, codec="h264", fps=30):
    """Writes ``count`` videos (``h264``: libx264 with 3 B-frames and a key frame
    every 2 s through PyAV; ``mp4v``: OpenCV's MPEG-4 Part 2); returns paths."""
    import cv2  # noqa: PLC0415

    paths = []
    for index, frames in enumerate(_frames(count, seconds, width, height, fps)):
        path = os.path.join(directory, f"video_{index}.mp4")
        if codec == "h264":
            import av  # noqa: PLC0415

            with av.open(path, "w") as container:
                stream = container.add_stream(
                    "libx264", rate=fps, options={"bf": "3", "g": str(2 * fps)}
                )
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                for frame in frames:
                    container.mux(
                        stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24"))
                    )
                container.mux(stream.encode())
        else:
            writer = cv2.VideoWriter(
                path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
            )
            for frame in frames:
                writer.write(frame)
            writer.release()
        paths.append(path)
    return paths


# -- loaders -------------------------------------------------------------------


def ours(paths, backend, workers, seed):
    sys.path.insert(0, ROOT)
    import tensorflow as tf  # noqa: PLC0415

    from keras_slowfast.data import VideoClipDataset, VideoDataConfig  # noqa: PLC0415

    tf.config.threading.set_inter_op_parallelism_threads(workers)
    config = VideoDataConfig(
        num_frames=32,
        sampling_rate=2,
        backend=backend,
        num_parallel_calls=workers,
        seed=seed,
    )
    data = VideoClipDataset(paths, list(range(len(paths))), config=config)
    for clip, _ in data.build(training=True, repeat=True):
        yield clip.numpy()


class TorchTransform:
    """The same training transform as ours, in torch, for PyTorchVideo clips."""

    def __init__(self, seed):
        import torch  # noqa: PLC0415

        self.torch = torch
        self.generator = torch.Generator().manual_seed(seed)

    def _randint(self, low, high):
        return int(self.torch.randint(low, high + 1, (1,), generator=self.generator))

    def __call__(self, sample):
        torch = self.torch
        video = sample["video"]  # (C, T, H, W) float32 in [0, 255]
        frames = video.shape[1]
        index = torch.linspace(0, frames - 1, 32).long()  # UniformTemporalSubsample
        video = video.index_select(1, index)
        size = self._randint(256, 320)
        height, width = video.shape[-2:]
        if width < height:
            new = (int(height / width * size), size)
        else:
            new = (size, int(width / height * size))
        video = torch.nn.functional.interpolate(
            video, size=new, mode="bilinear", align_corners=False
        )
        top = self._randint(0, new[0] - 224)
        left = self._randint(0, new[1] - 224)
        video = video[..., top : top + 224, left : left + 224]
        if self._randint(0, 1):
            video = video.flip(-1)
        video = (video / 255.0 - MEAN) / STD
        return {"video": video, "label": sample["label"]}


def pytorchvideo_loader(paths, workers, seed):
    import types  # noqa: PLC0415

    import torch  # noqa: PLC0415

    # torchvision is not installed; pytorchvideo.data imports it only for names
    # this benchmark never calls (RoIAlign, folder listing), so stand-ins do.
    def stub(name, **attributes):
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        module.__path__ = []
        sys.modules.setdefault(name, module)
        return module

    stub("torchvision")
    stub("torchvision.ops", RoIAlign=type("RoIAlign", (torch.nn.Module,), {}))
    stub("torchvision.transforms")
    stub("torchvision.datasets")
    stub("torchvision.datasets.folder", make_dataset=None)
    from pytorchvideo.data import LabeledVideoDataset  # noqa: PLC0415
    from pytorchvideo.data.clip_sampling import RandomClipSampler  # noqa: PLC0415

    torch.manual_seed(seed)
    # One long epoch over the repeated list: DataLoader workers start once.
    labeled = [(p, {"label": i % len(paths)}) for i, p in enumerate(paths * 500)]
    dataset = LabeledVideoDataset(
        labeled,
        clip_sampler=RandomClipSampler(clip_duration=64 / 30),
        transform=TorchTransform(seed),
        decode_audio=False,
        decoder="pyav",
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=workers, persistent_workers=False
    )
    for sample in loader:
        yield sample["video"].numpy()


def run_loader(name, paths, workers, max_clips, seconds, seed):
    if name == "pytorchvideo":
        clips = pytorchvideo_loader(paths, workers, seed)
    else:
        clips = ours(paths, name.split("-")[1], workers, seed)
    warmup = 5
    for _ in range(warmup):
        clip = next(clips)
    shape = list(clip.shape)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    samples = [(0, rss_mb())]  # (clips drawn, MiB), every 25 clips
    count = 0
    while count < max_clips and time.perf_counter() - start < seconds:
        clip = next(clips)
        assert clip.dtype == np.float32 and abs(float(clip.mean())) < 10
        count += 1
        if count % 25 == 0:
            samples.append((count, rss_mb()))
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    if count % 25:
        samples.append((count, rss_mb()))
    result = {
        "loader": name,
        "clips": count,
        "seconds": elapsed,
        "clips_per_s": count / elapsed,
        "cpu_s_per_clip": cpu / count,
        "rss_first_mb": samples[0][1],
        "rss_peak_mb": max(s[1] for s in samples),
        "rss_last_mb": samples[-1][1],
        "rss_samples": samples,
        "clip_shape": shape,
    }
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip slow teardown of loader threads and workers


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0, help="video length")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument(
        "--codec", choices=("h264", "mp4v"), default="h264", help="video codec (h264)"
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel decoders")
    parser.add_argument("--max-clips", type=int, default=1000)
    parser.add_argument(
        "--time-per-loader", type=float, default=120.0, help="seconds of timing each"
    )
    parser.add_argument(
        "--loaders", default="ours-opencv,ours-pyav,pytorchvideo", help="comma list"
    )
    parser.add_argument(
        "--reference-time",
        type=float,
        default=60.0,
        help="seconds of timing for pytorchvideo (its rate is steady and slow)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:
        run_loader(
            args.run,
            args.paths.split(","),
            args.workers,
            args.max_clips,
            args.time_per_loader,
            args.seed,
        )
        return

    with tempfile.TemporaryDirectory() as directory:
        begin = time.perf_counter()
        paths = make_videos(
            directory, args.videos, args.seconds, args.width, args.height, args.codec
        )
        size = sum(os.path.getsize(p) for p in paths) / len(paths) / 2**20
        took = time.perf_counter() - begin
        print(
            f"{len(paths)} videos {args.width}x{args.height}, {args.seconds:g} s at "
            f"30 fps ({args.codec}, {size:.1f} MiB each) written in {took:.0f} s; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        results = []
        for name in args.loaders.split(","):
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--run",
                name,
                "--paths",
                ",".join(paths),
                "--workers",
                str(args.workers),
                "--max-clips",
                str(args.max_clips),
                "--time-per-loader",
                str(
                    args.reference_time
                    if name == "pytorchvideo"
                    else args.time_per_loader
                ),
                "--seed",
                str(args.seed),
            ]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            output = subprocess.run(
                command, capture_output=True, text=True, env=env, check=False
            )
            lines = [
                line for line in output.stdout.splitlines() if line.startswith("{")
            ]
            if not lines:
                print(f"{name} failed:\n{output.stderr[-3000:]}", file=sys.stderr)
                continue
            results.append(json.loads(lines[-1]))
            print(f"  {name}: done ({results[-1]['clips']} clips)", flush=True)

    reference = next((r for r in results if r["loader"] == "pytorchvideo"), None)
    print()
    print(
        "| loader | clips | clips/s | vs PyTorchVideo | CPU s/clip | "
        "RSS start / at 100 clips / peak / last (MiB) | "
        "RSS slope after 100 clips (MiB per 100 clips) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for result in results:
        ratio = (
            f"{result['clips_per_s'] / reference['clips_per_s']:.2f}x"
            if reference
            else "-"
        )
        samples = np.array(result["rss_samples"], dtype=float)
        settled = samples[samples[:, 0] >= 100]
        if len(settled) >= 3:  # after start-up and tf.data autotuning
            slope = np.polyfit(settled[:, 0], settled[:, 1], 1)[0] * 100
            growth = f"{slope:+.1f} (clips 100-{int(settled[-1, 0])})"
        else:
            growth = "too few clips"
        at_100 = f"{settled[0, 1]:.0f}" if len(settled) else "-"
        print(
            f"| {result['loader']} | {result['clips']} | {result['clips_per_s']:.2f} | "
            f"{ratio} | {result['cpu_s_per_clip']:.3f} | "
            f"{result['rss_first_mb']:.0f} / {at_100} / {result['rss_peak_mb']:.0f}"
            f" / {result['rss_last_mb']:.0f} | {growth} |"
        )
    print()
    for result in results:
        trace = [f"{n}:{m:.0f}" for n, m in result["rss_samples"] if n % 100 == 0]
        print(f"RSS (MiB) by clip, {result['loader']}: {' '.join(trace)}")
    print(f"clip shapes: { {r['loader']: r['clip_shape'] for r in results} }")


if __name__ == "__main__":
    main()
