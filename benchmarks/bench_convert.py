"""Converting the full SlowFast 8x8 R50 from each zoo file format: time and memory.

A randomized PyTorchVideo ``slowfast_r50`` (34.6 M parameters) is written as
the zoos ship their files: torch's zip format, torch's legacy format, a
gzip-compressed zip file, and a Caffe2 pickle under PySlowFast's original blob
names (as Python 2 wrote it). Each conversion runs in a fresh process, which
reports its own time and peak resident memory (``VmHWM``):

* ``torch-free``: ``convert_checkpoint(path)``, the file read by the
  restricted unpickler (``convert/checkpoint_file.py``) in a process where
  ``import torch`` fails;
* ``torch``: the path before, ``torch.load(path, weights_only=True)`` and the
  same conversion of the loaded dict (it cannot read gzip or Caffe2 files).

Both include importing TensorFlow and building the model; ``read`` is the
file reading alone. The contenders alternate round by round.

    python benchmarks/bench_convert.py --rounds 3
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

from common import machine_line  # noqa: F401 (sets up the path first)

CHILD = r"""
import json, sys, time
start = time.perf_counter()
mode, path = sys.argv[1], sys.argv[2]
if mode == "torch-free":
    sys.modules["torch"] = None
import keras_slowfast  # noqa: F401  (TensorFlow, Keras)
from keras_slowfast.convert import convert_checkpoint
from keras_slowfast.convert.common import load_checkpoint
imported = time.perf_counter()
if mode == "torch":
    import torch
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
else:
    checkpoint = load_checkpoint(path)
read = time.perf_counter()
model = convert_checkpoint(checkpoint, progress=False)
done = time.perf_counter()
with open("/proc/self/status") as status:
    peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps({"read": read - imported, "convert": done - start,
                  "peak_gib": peak / 2**20, "params": model.count_params()}))
"""


def write_files(folder):
    """The four zoo formats of one randomized PyTorchVideo 8x8 R50."""
    import torch

    from tests.convert.files import caffe2_blob_name, py2_blobs_pickle
    from tests.convert.torch_reference import (
        pytorchvideo_models,
        pytorchvideo_to_pyslowfast,
        randomize,
    )

    model = randomize(pytorchvideo_models().hub.slowfast_r50(pretrained=False))
    state = model.state_dict()
    paths = {"zip": os.path.join(folder, "SLOWFAST_8x8_R50.pyth")}
    torch.save({"model_state": state}, paths["zip"])
    paths["legacy"] = os.path.join(folder, "legacy.pyth")
    torch.save(
        {"model_state": state}, paths["legacy"], _use_new_zipfile_serialization=False
    )
    paths["gzip"] = paths["zip"] + ".gz"
    with open(paths["zip"], "rb") as source, gzip.open(paths["gzip"], "wb") as out:
        shutil.copyfileobj(source, out)
    blobs = {}
    for key, tensor in state.items():
        name = caffe2_blob_name(pytorchvideo_to_pyslowfast(key), [3, 4, 6, 3])
        if name is not None:
            blobs[name] = tensor.numpy()
    paths["caffe2"] = os.path.join(folder, "SLOWFAST_8x8_R50.pkl")
    with open(paths["caffe2"], "wb") as file:
        file.write(py2_blobs_pickle(blobs))
    return paths


def convert_in_child(mode, path):
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, path],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender")
    args = parser.parse_args()
    import statistics

    folder = tempfile.mkdtemp(prefix="bench_convert_")
    try:
        paths = write_files(folder)
        runs = {}
        contenders = [(fmt, "torch-free") for fmt in paths] + [
            (fmt, "torch") for fmt in ("zip", "legacy")
        ]
        for _ in range(args.rounds):
            for fmt, mode in contenders:
                runs.setdefault((fmt, mode), []).append(
                    convert_in_child(mode, paths[fmt])
                )
        print(f"machine: {machine_line()}")
        print(f"median of {args.rounds} fresh processes per row")
        print()
        print("| file | size | reader | read s | whole conversion s | peak RSS GiB |")
        print("|---|---|---|---|---|---|")
        for (fmt, mode), results in runs.items():
            size = os.path.getsize(paths[fmt]) / 2**20
            read = statistics.median(r["read"] for r in results)
            whole = statistics.median(r["convert"] for r in results)
            peak = statistics.median(r["peak_gib"] for r in results)
            print(
                f"| {fmt} | {size:.0f} MiB | {mode} | {read:.2f} | {whole:.2f} | "
                f"{peak:.2f} |"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
