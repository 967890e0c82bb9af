"""Every zoo file format converts without torch to PyTorchVideo's logits.

One randomized PyTorchVideo SlowFast R50 (8 frames of 32x32, so the test is
quick) is written as the zoos ship their files: torch's zip format with a
pickled PySlowFast config object, torch's legacy format, a gzip-compressed zip
file, and a Caffe2 pickle under the original PySlowFast blob names with solver
blobs. A second interpreter, in which ``import torch`` fails, converts each
file; its logits must equal PyTorchVideo's to 1e-5 of the largest logit.
"""

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.convert.files import caffe2_blob_name, py2_blobs_pickle
from tests.convert.torch_reference import (
    pytorchvideo_models,
    pytorchvideo_to_pyslowfast,
    randomize,
    torch_logits,
)

pytestmark = pytest.mark.torch

SIZE = 32
FRAMES = 8
R50 = [3, 4, 6, 3]

CONVERT_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import numpy as np
from keras_slowfast.convert import convert_checkpoint
clip = np.load(sys.argv[1])
for path in sys.argv[2:]:
    model = convert_checkpoint(path, num_frames=8, progress=False)
    np.save(path + ".logits.npy", np.asarray(model(clip, training=False)))
assert "torch" not in [name for name, m in sys.modules.items() if m is not None]
"""


def _reference_model():
    models = pytorchvideo_models()
    model = models.slowfast.create_slowfast(
        model_depth=50,
        model_num_class=7,
        head_pool_kernel_sizes=((FRAMES // 4, 1, 1), (FRAMES, 1, 1)),
    )
    return randomize(model, seed=4)


def _write_formats(folder, state):
    from fvcore.common.config import CfgNode

    paths = {}
    cfg = CfgNode({"SLOWFAST": {"ALPHA": 4}, "DATA": {"NUM_FRAMES": FRAMES}})
    paths["zip"] = folder / "zip.pyth"
    torch.save({"model_state": state, "cfg": cfg, "epoch": 3}, paths["zip"])
    paths["legacy"] = folder / "legacy.pyth"
    torch.save(
        {"model_state": state}, paths["legacy"], _use_new_zipfile_serialization=False
    )
    paths["gzip"] = folder / "zip.pyth.gz"
    with (
        open(paths["zip"], "rb") as source,
        gzip.open(paths["gzip"], "wb", compresslevel=1) as out,
    ):
        shutil.copyfileobj(source, out)
    blobs = {}
    for key, tensor in state.items():
        name = caffe2_blob_name(pytorchvideo_to_pyslowfast(key), R50)
        if name is not None:
            blobs[name] = tensor.detach().numpy()
    for name in ("conv1_w", "t_conv1_w", "pred_w"):  # solver state, skipped
        blobs[name + "_momentum"] = np.zeros_like(blobs[name])
    blobs["lr"] = np.array([0.1], "float32")
    blobs["model_iter"] = np.array([1000], "int64")
    paths["caffe2"] = folder / "SLOWFAST_8x8_R50.pkl"
    paths["caffe2"].write_bytes(py2_blobs_pickle(blobs))
    return paths


def test_zip_legacy_gzip_and_caffe2_files_convert_without_torch(tmp_path):
    torch_model = _reference_model()
    state = {
        k: v for k, v in torch_model.state_dict().items() if "num_batches" not in k
    }
    paths = _write_formats(tmp_path, state)
    clip = np.random.default_rng(0).normal(size=(1, FRAMES, SIZE, SIZE, 3))
    clip = clip.astype("float32")
    np.save(tmp_path / "clip.npy", clip)
    expected = torch_logits(torch_model, clip, alpha=4)
    result = subprocess.run(
        [sys.executable, "-c", CONVERT_WITHOUT_TORCH, str(tmp_path / "clip.npy")]
        + [str(p) for p in paths.values()],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    scale = np.abs(expected).max()
    assert scale > 0.5
    for layout, path in paths.items():
        actual = np.load(str(path) + ".logits.npy")
        difference = np.abs(actual - expected).max() / scale
        print(f"{layout}: max |logit difference| / max |logit| = {difference:.1e}")
        assert actual.shape == expected.shape == (1, 7), layout
        assert difference <= 1e-5, layout
