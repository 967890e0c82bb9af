"""Reading checkpoint files without torch: torch zip / legacy, Caffe2, gzip, safety.

Files are written by torch itself (``torch.save`` in both formats) or, for
Caffe2, as Python 2 wrote them (opcodes assembled here), so the reader is
checked against the real formats, not against its own writer.
"""

import collections
import gzip
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

from keras_slowfast.convert import checkpoint_settings
from keras_slowfast.convert.caffe2 import caffe2_name, caffe2_state_dict
from keras_slowfast.convert.checkpoint_file import (
    InertConfig,
    UnsafeCheckpointError,
    read_checkpoint,
)
from tests.convert.files import py2_blobs_pickle

pytestmark = pytest.mark.torch


def _tensors():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=generator)
    return collections.OrderedDict(
        float32=torch.randn(2, 3, 1, 2, 2, generator=generator),
        float64=torch.randn(5, generator=generator, dtype=torch.float64),
        float16=torch.randn(3, 2, generator=generator).half(),
        bfloat16=torch.randn(7, generator=generator).bfloat16(),
        int64=torch.arange(6).reshape(2, 3),
        bool=torch.tensor([True, False, True]),
        scalar=torch.tensor(3.5),
        transposed=base.t(),  # a strided view of a shared storage
        sliced=base[1:3, 2:5],
        parameter=torch.nn.Parameter(torch.randn(2, 2, generator=generator)),
        empty=torch.zeros(0, 3),
    )


def _expected(tensor):
    tensor = tensor.detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()  # read as float32, exactly
    return tensor.numpy()


def _gzip(path):
    target = str(path) + ".gz"
    with open(path, "rb") as source, gzip.open(target, "wb") as destination:
        shutil.copyfileobj(source, destination)
    return target


@pytest.mark.parametrize("layout", ["zip", "legacy", "zip.gz", "legacy.gz"])
def test_torch_files_read_without_torch_equal_torch_values(tmp_path, layout):
    tensors = _tensors()
    path = tmp_path / "checkpoint.pyth"
    torch.save(
        {"model_state": tensors, "epoch": 7, "cfg": "SLOWFAST:\n  ALPHA: 8\n"},
        path,
        _use_new_zipfile_serialization=layout.startswith("zip"),
    )
    if layout.endswith(".gz"):
        path = _gzip(path)
    checkpoint = read_checkpoint(path)
    assert checkpoint["epoch"] == 7 and checkpoint["cfg"].startswith("SLOWFAST")
    for key, tensor in tensors.items():
        actual, expected = checkpoint["model_state"][key], _expected(tensor)
        assert isinstance(actual, np.ndarray), key
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, key
        np.testing.assert_array_equal(actual, expected, err_msg=key)
    assert checkpoint_settings(checkpoint) == {"alpha": 8}


def test_caffe2_pickles_as_python2_wrote_them(tmp_path):
    rng = np.random.default_rng(0)
    blobs = {
        "conv1_w": rng.normal(size=(4, 3, 1, 3, 3)).astype("float32"),
        "t_res_conv1_bn_riv": rng.uniform(0.5, 2, size=4).astype(">f4"),
        "pred_b": np.arange(3, dtype="float64"),
    }
    path = tmp_path / "SLOWFAST_8x8_R50.pkl"
    path.write_bytes(py2_blobs_pickle(blobs))
    assert set(pickle.loads(path.read_bytes(), encoding="latin1")["blobs"]) == set(
        blobs
    )  # the hand-made pickle is a valid one
    loaded = read_checkpoint(path)["blobs"]
    for name, array in blobs.items():
        assert loaded[name].dtype == array.dtype.newbyteorder("=")
        np.testing.assert_array_equal(loaded[name], array, err_msg=name)


def test_caffe2_pickles_written_by_python3(tmp_path):
    blobs = {
        "res2_0_branch2a_w": np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
        "model_iter": np.int64(120000),
        "lr": np.float32(0.1),
    }
    path = tmp_path / "c2.pkl"
    with open(path, "wb") as file:
        pickle.dump({"blobs": blobs}, file, protocol=2)
    loaded = read_checkpoint(path)["blobs"]
    np.testing.assert_array_equal(
        loaded["res2_0_branch2a_w"], blobs["res2_0_branch2a_w"]
    )
    assert loaded["model_iter"] == 120000 and loaded["lr"] == np.float32(0.1)


def test_caffe2_names_follow_pyslowfast_conventions():
    expected = {
        "conv1_w": "s1.pathway0_stem.conv.weight",
        "t_conv1_w": "s1.pathway1_stem.conv.weight",
        "res_conv1_bn_s": "s1.pathway0_stem.bn.weight",
        "t_res_conv1_bn_rm": "s1.pathway1_stem.bn.running_mean",
        "res3_2_branch2b_w": "s3.pathway0_res2.branch2.b.weight",
        "t_res5_0_branch1_bn_b": "s5.pathway1_res0.branch1_bn.bias",
        "res4_5_branch2c_bn_riv": "s4.pathway0_res5.branch2.c_bn.running_var",
        "t_pool1_subsample_w": "s1_fuse.conv_f2s.weight",
        "t_pool1_subsample_bn_s": "s1_fuse.bn.weight",
        "t_res4_5_branch2c_bn_subsample_w": "s4_fuse.conv_f2s.weight",
        "t_res2_2_branch2c_bn_subsample_bn_rm": "s2_fuse.bn.running_mean",
        "nonlocal_conv4_13_theta_w": "s4.pathway0_nonlocal13.conv_theta.weight",
        "nonlocal_conv3_1_out_b": "s3.pathway0_nonlocal1.conv_out.bias",
        "nonlocal_conv4_6_bn_riv": "s4.pathway0_nonlocal6.bn.running_var",
        "pred_w": "head.projection.weight",
    }
    for blob, key in expected.items():
        assert caffe2_name(blob) == key, blob
    assert caffe2_name("res2_0_branch2a_x") is None
    state = caffe2_state_dict(
        {"blobs": {"pred_w": np.zeros((2, 3)), "pred_w_momentum": 0, "lr": 0}}
    )
    assert list(state) == ["head.projection.weight"]
    with pytest.raises(ValueError, match="1 Caffe2 blobs have no PySlowFast name"):
        caffe2_state_dict({"blobs": {"mystery_blob": np.zeros(2)}})


class _RunsCommand:
    """Pickles as a call to os.system: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_a_pickle_that_calls_a_global_is_refused_and_runs_nothing(tmp_path, writer):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pyth"
    payload = {"model_state": {"w": np.zeros(2)}, "x": _RunsCommand(marker)}
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "evil.pyth" in message and "system" in message
    assert len(message.splitlines()) == 1
    assert not marker.exists()


def test_other_globals_are_refused(tmp_path):
    path = tmp_path / "numpy_load.pkl"
    path.write_bytes(b"\x80\x02cnumpy\nload\nU\x01xK\x01\x86R.")
    with pytest.raises(UnsafeCheckpointError, match="numpy.load"):
        read_checkpoint(path)
    objects = tmp_path / "objects.pkl"
    objects.write_bytes(pickle.dumps(np.array([object()], dtype=object), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match="dtype 'O"):
        read_checkpoint(objects)


def test_a_pickled_config_object_is_read_as_inert_data(tmp_path):
    from fvcore.common.config import CfgNode

    cfg = CfgNode(
        {
            "SLOWFAST": {"ALPHA": 8},
            "DATA": {"NUM_FRAMES": 32, "MEAN": [0.4, 0.4, 0.4], "STD": [0.2] * 3},
            "NONLOCAL": {"INSTANTIATION": "softmax"},
        }
    )
    path = tmp_path / "pyslowfast.pyth"
    torch.save({"model_state": {"w": torch.zeros(2)}, "cfg": cfg}, path)
    checkpoint = read_checkpoint(path)
    assert isinstance(checkpoint["cfg"], InertConfig)
    assert checkpoint["cfg"]["SLOWFAST"] == {"ALPHA": 8}
    assert checkpoint_settings(checkpoint) == {
        "alpha": 8,
        "num_frames": 32,
        "nonlocal_affinity": "softmax",
        "input_convention": {"mean": [0.4] * 3, "std": [0.2] * 3},
    }


def test_truncated_and_damaged_files_give_one_line(tmp_path):
    state = {"model_state": {"w": torch.randn(64, 64)}}
    for layout in ("zip", "legacy"):
        whole = tmp_path / f"{layout}.pyth"
        torch.save(state, whole, _use_new_zipfile_serialization=layout == "zip")
        cut = tmp_path / f"cut_{layout}.pyth"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(ValueError) as info:
            read_checkpoint(cut)
        assert f"cut_{layout}.pyth" in str(info.value)
        assert len(str(info.value).splitlines()) == 1
    damaged_gzip = tmp_path / "damaged.pyth.gz"
    damaged_gzip.write_bytes(gzip.compress(b"x" * 1000)[:30])
    with pytest.raises(ValueError, match="damaged.pyth.gz"):
        read_checkpoint(damaged_gzip)


@pytest.mark.parametrize("layout", ["zip", "legacy", "caffe2"])
def test_damaged_bytes_give_a_value_error_naming_the_file(tmp_path, layout):
    """Random bytes overwritten anywhere: the reader raises ValueError (or reads
    values), never another exception from deep inside pickle or zipfile."""
    whole = tmp_path / "whole.pyth"
    if layout == "caffe2":
        blobs = {"conv1_w": np.arange(24, dtype="float32").reshape(2, 3, 4)}
        whole.write_bytes(py2_blobs_pickle(blobs))
    else:
        state = {"model_state": {"w": torch.arange(12.0).reshape(3, 4), "b": 1}}
        torch.save(state, whole, _use_new_zipfile_serialization=layout == "zip")
    data = bytearray(whole.read_bytes())
    rng = np.random.default_rng(0)
    damaged = tmp_path / "damaged.pyth"
    for _ in range(100):
        copy = bytearray(data)
        for index in rng.integers(0, len(copy), size=3):
            copy[index] = int(rng.integers(0, 256))
        damaged.write_bytes(bytes(copy))
        try:
            read_checkpoint(damaged)
        except ValueError as error:
            assert "damaged.pyth" in str(error)
