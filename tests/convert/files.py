"""Checkpoint files as the zoos' tools wrote them, for the reader and zoo tests.

``py2_blobs_pickle`` assembles the pickle opcodes Python 2 wrote for a Caffe2
``{"blobs": ...}`` checkpoint; ``caffe2_blob_name`` renames a PySlowFast key to
its Caffe2 blob (the inverse of the converter's rules, written separately
from them as templates).
"""

import re
import struct


def _py2_array_pickle(array):
    """The opcodes Python 2's pickle writes for a numpy array (protocol 2):
    ``_reconstruct(ndarray, (0,), 'b')`` then BUILD with ``(1, shape, dtype,
    is_fortran, data)``, every string a Python 2 ``str`` (SHORT_BINSTRING)."""

    def short_string(text):
        data = text if isinstance(text, bytes) else text.encode("latin1")
        if len(data) < 256:
            return b"U" + bytes([len(data)]) + data
        return b"T" + struct.pack("<I", len(data)) + data

    def integer(value):
        return b"J" + struct.pack("<i", value)

    shape = b"(" + b"".join(integer(n) for n in array.shape) + b"t"
    order = "<" if array.dtype.byteorder in "<=" else ">"
    dtype = (
        b"cnumpy\ndtype\n"
        + short_string(array.dtype.str[1:])
        + integer(0)
        + integer(1)
        + b"\x87R("
        + integer(3)
        + short_string(order)
        + b"NNN"
        + integer(-1)
        + integer(-1)
        + integer(0)
        + b"tb"
    )
    return (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + b"("
        + integer(0)
        + b"t"
        + short_string("b")
        + b"\x87R("
        + integer(1)
        + shape
        + dtype
        + b"\x89"
        + short_string(array.tobytes(order="C"))
        + b"tb"
    )


def py2_blobs_pickle(blobs):
    """``{"blobs": blobs}`` pickled as Python 2 wrote Caffe2 checkpoints."""
    parts = [b"\x80\x02}", _short_key("blobs"), b"}("]
    for name, array in blobs.items():
        parts += [_short_key(name), _py2_array_pickle(array)]
    return b"".join(parts + [b"us."])


def _short_key(text):
    return b"U" + bytes([len(text)]) + text.encode("latin1")


_BN_SUFFIX = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_PARAM_SUFFIX = {"weight": "w", "bias": "b"}


def caffe2_blob_name(key, stage_depths):
    """The Caffe2 blob of a PySlowFast key; None for BN batch counters.

    Args:
        key: str. e.g. ``"s2.pathway1_res0.branch2.a_bn.running_var"``.
        stage_depths: 4 ints; the fusion after stage ``s`` is named after the
            stage's last block (``t_res{s}_{last}_branch2c_bn_subsample``).
    """
    module, param = key.rsplit(".", 1)
    if param == "num_batches_tracked":
        return None
    bn = module.endswith("bn")

    def suffix():
        return _BN_SUFFIX[param] if bn else _PARAM_SUFFIX[param]

    match = re.fullmatch(r"s1\.pathway(\d)_stem\.(conv|bn)", module)
    if match:
        fast = "t_" if match.group(1) == "1" else ""
        base = "res_conv1_bn" if bn else "conv1"
        return f"{fast}{base}_{suffix()}"
    match = re.fullmatch(r"s(\d)_fuse\.(conv_f2s|bn)", module)
    if match:
        stage = int(match.group(1))
        base = (
            "t_pool1_subsample"
            if stage == 1
            else f"t_res{stage}_{stage_depths[stage - 2] - 1}_branch2c_bn_subsample"
        )
        return f"{base}_bn_{suffix()}" if bn else f"{base}_{suffix()}"
    match = re.fullmatch(
        r"s(\d)\.pathway(\d)_res(\d+)\.(branch1|branch2\.([abc]))(_bn)?", module
    )
    if match:
        stage, pathway, block, unit, letter, _ = match.groups()
        fast = "t_" if pathway == "1" else ""
        branch = "branch1" if unit == "branch1" else f"branch2{letter}"
        base = f"{fast}res{stage}_{block}_{branch}"
        return f"{base}_bn_{suffix()}" if bn else f"{base}_{suffix()}"
    match = re.fullmatch(r"s(\d)\.pathway0_nonlocal(\d+)\.(conv_(\w+)|bn)", module)
    if match:
        stage, block, unit, conv = match.groups()
        base = f"nonlocal_conv{stage}_{block}"
        return f"{base}_bn_{suffix()}" if bn else f"{base}_{conv}_{suffix()}"
    if module == "head.projection":
        return f"pred_{suffix()}"
    raise ValueError(f"no Caffe2 name for {key}")
