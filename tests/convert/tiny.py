"""A tiny classifier with random weights, written out under torch key names.

``torch_named_state_dict`` is the inverse of the converter's rules, written
separately from them (templates per scheme), so a round trip checks both the
key mapping and the tensor layouts.
"""

import re

import numpy as np

from keras_slowfast.convert.common import model_targets
from keras_slowfast.models.factories import classifier_from_arguments

TINY = dict(
    stage_depths=[1, 2, 1, 1],
    alpha=4,
    beta_inv=8,
    num_frames=8,
    num_classes=5,
    fusion_kernel_size=5,
    nonlocal_blocks=[[], [0, 1], [0], []],
    image_size=None,
)
PATHWAY = {"slow": "0", "fast": "1"}
FUSE = {"fuse_stem": 1, "fuse_res2": 2, "fuse_res3": 3, "fuse_res4": 4}
BN_PARAM = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
PARAM = {"kernel": "weight", "bias": "bias"}
PYSLOWFAST_UNITS = {
    ("shortcut", "conv"): "branch1",
    ("shortcut", "bn"): "branch1_bn",
    ("conv_a", "conv"): "branch2.a",
    ("conv_a", "bn"): "branch2.a_bn",
    ("conv_b", "conv"): "branch2.b",
    ("conv_b", "bn"): "branch2.b_bn",
    ("conv_c", "conv"): "branch2.c",
    ("conv_c", "bn"): "branch2.c_bn",
}
PYTORCHVIDEO_UNITS = {
    ("shortcut", "conv"): "branch1_conv",
    ("shortcut", "bn"): "branch1_norm",
    ("conv_a", "conv"): "branch2.conv_a",
    ("conv_a", "bn"): "branch2.norm_a",
    ("conv_b", "conv"): "branch2.conv_b",
    ("conv_b", "bn"): "branch2.norm_b",
    ("conv_c", "conv"): "branch2.conv_c",
    ("conv_c", "bn"): "branch2.norm_c",
}
NONLOCAL = {"theta": "conv_theta", "phi": "conv_phi", "g": "conv_g", "out": "conv_out"}


def tiny_model(**overrides):
    """The tiny model with every weight random (BN statistics and scales too)."""
    model = classifier_from_arguments(**{**TINY, **overrides})
    rng = np.random.default_rng(1)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif variable.path.endswith("gamma"):
            value = rng.uniform(0.3, 1.0, shape)
        elif len(shape) == 5:
            fan_in = np.prod(shape[:4])
            value = rng.normal(0, (2.0 / fan_in) ** 0.5, shape)
        else:
            value = rng.normal(0, 0.1, shape)
        variable.assign(value.astype("float32"))
    return model


def torch_name(target, scheme):
    """The checkpoint key of a Keras target under ``scheme``."""
    layer, var = target.rsplit("/", 1)
    is_bn = layer.endswith("/bn")
    param = BN_PARAM[var] if is_bn else PARAM[var]
    parts = layer.split("/")
    if parts[0] == "head":
        return (
            "head.projection." if scheme == "pyslowfast" else "blocks.6.proj."
        ) + param
    if parts[0] in FUSE:
        n = FUSE[parts[0]]
        if scheme == "pyslowfast":
            return f"s{n}_fuse.{'bn' if is_bn else 'conv_f2s'}.{param}"
        unit = "norm" if is_bn else "conv_fast_to_slow"
        return f"blocks.{n - 1}.multipathway_fusion.{unit}.{param}"
    pathway, stage = parts[0].split("_")
    p = PATHWAY[pathway]
    if stage == "stem":
        if scheme == "pyslowfast":
            return f"s1.pathway{p}_stem.{'bn' if is_bn else 'conv'}.{param}"
        return f"blocks.0.multipathway_blocks.{p}.{'norm' if is_bn else 'conv'}.{param}"
    n = int(stage[3:])
    match = re.fullmatch(r"(block|nonlocal)(\d+)", parts[1])
    kind, index = match.groups()
    if kind == "nonlocal":
        assert scheme == "pyslowfast"
        unit = "bn" if is_bn else NONLOCAL[parts[2]]
        return f"s{n}.pathway{p}_nonlocal{index}.{unit}.{param}"
    if scheme == "pyslowfast":
        unit = PYSLOWFAST_UNITS[(parts[2], parts[3])]
        return f"s{n}.pathway{p}_res{index}.{unit}.{param}"
    unit = PYTORCHVIDEO_UNITS[(parts[2], parts[3])]
    return f"blocks.{n - 1}.multipathway_blocks.{p}.res_blocks.{index}.{unit}.{param}"


def to_torch_layout(array):
    array = np.asarray(array)
    if array.ndim == 5:
        return np.transpose(array, (4, 3, 0, 1, 2))
    if array.ndim == 2:
        return array.T
    return array


def torch_named_state_dict(model, scheme="pyslowfast"):
    """The model's weights as a torch-layout state dict with ``scheme`` keys."""
    state = {}
    for target, variable in model_targets(model).items():
        key = torch_name(target, scheme)
        state[key] = to_torch_layout(variable.numpy()).copy()
        if key.endswith(".running_var"):
            state[key[: -len("running_var")] + "num_batches_tracked"] = np.array(7)
    return state


def random_clip(num_frames=8, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2, num_frames, size, size, 3)).astype("float32")
