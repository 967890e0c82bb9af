"""Shared converter machinery: checkpoint loading, key rules, weight checks.

A converter turns each checkpoint key into a *target*: the path of a Keras
variable below the model's top-level layers, such as
``"slow_res3/block0/conv_a/conv/kernel"`` or ``"head/proj/bias"``. Every model
whose layers carry these names (``SlowFastBackbone`` and the task models
around it) can therefore be loaded by the same rules; nothing is matched by position.

Files are read without torch (``checkpoint_file.py``); torch tensors passed in
directly are converted with their own ``numpy()``.
"""

import logging
import pickle
import re

import numpy as np

from keras_slowfast.convert.caffe2 import caffe2_state_dict, is_caffe2_checkpoint

logger = logging.getLogger("keras_slowfast")

# torch BatchNorm / conv / linear parameter names -> Keras variable names.
BN_NAMES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
PARAM_NAMES = {"weight": "kernel", "bias": "bias"}
# Checkpoint entries with no Keras counterpart.
IGNORED_SUFFIXES = ("num_batches_tracked",)

PATHWAY_NAMES = ("slow", "fast")
# Lateral connection after stage k (0 = stem, 1 = res2, ...).
FUSION_NAMES = ("fuse_stem", "fuse_res2", "fuse_res3", "fuse_res4")


class KeyRule:
    """One checkpoint-key rule: a regular expression and its target template.

    Args:
        pattern: str. Regular expression matched against the whole key (with
            the parameter name stripped); named groups fill ``target``.
        target: callable. Takes the match's ``groupdict()`` and returns the
            Keras layer path (without the variable name).
        kind: str. ``"bn"`` for BatchNorm parameters, ``"param"`` for conv and
            dense parameters; selects the variable-name table.
    """

    def __init__(self, pattern, target, kind):
        self.pattern = re.compile(pattern)
        self.target = target
        self.kind = kind

    def apply(self, module, param):
        match = self.pattern.fullmatch(module)
        if match is None:
            return None
        names = BN_NAMES if self.kind == "bn" else PARAM_NAMES
        if param not in names:
            return None
        return f"{self.target(match.groupdict())}/{names[param]}"


def map_key_with_rules(key, rules, prefixes=()):
    """Returns the Keras target of ``key``, or None when no rule matches.

    Args:
        key: str. A checkpoint key such as ``"s2.pathway0_res0.branch2.a.weight"``.
        rules: list of ``KeyRule``.
        prefixes: tuple of (str, str) pairs. Key prefixes rewritten before
            matching (e.g. ``("model.", "")`` for detection checkpoints).
    """
    for old, new in prefixes:
        if key.startswith(old):
            key = new + key[len(old) :]
            break
    module, _, param = key.rpartition(".")
    for rule in rules:
        target = rule.apply(module, param)
        if target is not None:
            return target
    return None


def is_ignored(key):
    """Whether a checkpoint entry has no Keras counterpart (BN batch counters)."""
    return key.rsplit(".", 1)[-1] in IGNORED_SUFFIXES


def torch_to_keras(array):
    """Rearranges a torch weight into the Keras layout.

    Conv3d ``(out, in, t, h, w)`` -> Conv3D ``(t, h, w, in, out)``; Linear
    ``(out, in)`` -> Dense ``(in, out)``; vectors are unchanged.
    """
    array = np.asarray(array)
    if array.ndim == 5:
        return np.transpose(array, (2, 3, 4, 1, 0))
    if array.ndim == 2:
        return np.transpose(array)
    return array


def to_numpy(value):
    """A float32 NumPy copy of a torch tensor or array-like."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        value = value.numpy()
    return np.asarray(value, dtype="float32")


def load_checkpoint(path, trust_checkpoint=False):
    """Reads a checkpoint file safely, without torch (see ``checkpoint_file``).

    torch's zip and legacy files, Caffe2 pickles and gzip-compressed ones are
    read by a restricted unpickler that only rebuilds arrays, numbers, strings,
    dicts and config objects (as plain dicts); a file that names anything else
    is refused. Only for such a file, and only with ``trust_checkpoint=True``
    and torch installed, is it unpickled fully by torch, which runs code stored
    in the file: do this only for files from a source you trust.

    Args:
        path: str or path. The ``.pyth`` / ``.pt`` / ``.pth`` / ``.pkl`` file.
        trust_checkpoint: bool. Allow full unpickling by torch.

    Returns:
        The loaded object (usually a dict), tensors as NumPy arrays.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: an unsafe file without ``trust_checkpoint``, or a
            truncated or unreadable one.
    """
    import os

    from keras_slowfast.convert.checkpoint_file import (
        UnsafeCheckpointError,
        read_checkpoint,
    )

    path = os.fspath(path)
    try:
        return read_checkpoint(path)
    except UnsafeCheckpointError as error:
        if not trust_checkpoint:
            raise UnsafeCheckpointError(
                f"{error}. If you trust its source, pass trust_checkpoint=True "
                "(CLI: --trust-checkpoint) to unpickle it with torch, which runs "
                "that code."
            ) from None
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"{path}: trust_checkpoint=True unpickles with torch, which is not "
            "installed (pip install keras_slowfast[torch])"
        ) from None
    logger.warning("%s: fully unpickling a trusted checkpoint with torch", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as error:
        raise ValueError(f"{path}: not a readable torch checkpoint ({error})") from None


def extract_state_dict(checkpoint):
    """Finds the state dict in a loaded checkpoint; strips a ``module.`` prefix.

    PyTorchVideo and PySlowFast checkpoints store the weights under
    ``model_state``; other trainers use ``state_dict`` or ``model``. A plain
    state dict is returned as is; a Caffe2 checkpoint's ``blobs`` are renamed
    to PySlowFast's keys (``convert/caffe2.py``).

    Returns:
        dict mapping str keys to float32 NumPy arrays.

    Raises:
        ValueError: when no state dict can be found.
    """
    state = checkpoint
    for _ in range(2):
        if not isinstance(state, dict):
            break
        for wrapper in ("model_state", "state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
                break
        else:
            break
    if not isinstance(state, dict) or not state:
        raise ValueError(
            "checkpoint holds no state dict: expected a dict of tensors, or one "
            f"under 'model_state' / 'state_dict'; got {type(checkpoint).__name__}"
        )
    if is_caffe2_checkpoint(state):
        state = caffe2_state_dict(state)
    arrays = {}
    for key, value in state.items():
        if not hasattr(value, "shape"):
            raise ValueError(
                f"checkpoint entry {key!r} is a {type(value).__name__}, not a tensor"
            )
        if key.startswith("module."):
            key = key[len("module.") :]
        arrays[key] = value if isinstance(value, np.ndarray) else to_numpy(value)
    return arrays


def top_level_target(variable, layer):
    """The path of ``variable`` relative to the model, starting at ``layer``."""
    path = variable.path
    marker = layer.name + "/"
    if path.startswith(marker):
        return path
    index = path.find("/" + marker)
    if index < 0:
        return f"{layer.name}/{path.rsplit('/', 1)[-1]}"
    return path[index + 1 :]


# Top-level layer names the key rules address.
ROOT_NAMES = re.compile(r"(slow|fast)_(stem|res[2-5])|fuse_(stem|res[2-4])|head")


def model_targets(model, prefix=""):
    """Maps target path -> Keras variable for every weight of ``model``.

    A nested model is walked into: one named like a SlowFast part (``head``)
    adds its name to the path, any other (a backbone inside a task model) is
    transparent, so its layers keep their own top-level names.
    """
    import keras

    targets = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner = (
                prefix + layer.name + "/"
                if ROOT_NAMES.fullmatch(layer.name)
                else prefix
            )
            for target, variable in model_targets(layer, inner).items():
                targets.setdefault(target, variable)
            continue
        for variable in layer.weights:
            targets.setdefault(prefix + top_level_target(variable, layer), variable)
    return targets


def _format_shape(shape):
    return str(tuple(int(s) for s in shape))


def assign_weights(model, arrays_by_target, keys_by_target, progress=True, skip=()):
    """Assigns every weight of ``model``; raises before assigning on any problem.

    Args:
        model: a Keras model whose layers carry the SlowFast names.
        arrays_by_target: dict target -> NumPy array in the torch layout.
        keys_by_target: dict target -> checkpoint key, for messages.
        progress: bool. Show a ``keras.utils.Progbar`` over the weights.
        skip: collection of targets deliberately left at their initial values
            (a new classifier); the caller reports them.

    Raises:
        ValueError: listing every model weight with no checkpoint entry, every
            checkpoint entry with no model weight and every shape mismatch,
            each with its key and both shapes.
    """
    import keras

    targets = model_targets(model)
    problems, plan = [], []
    for target, variable in targets.items():
        if target in skip:
            continue
        if target not in arrays_by_target:
            problems.append(
                f"missing: model weight {target} {_format_shape(variable.shape)} has "
                "no checkpoint entry"
            )
            continue
        key = keys_by_target[target]
        source = arrays_by_target[target]
        value = torch_to_keras(source)
        if tuple(value.shape) != tuple(variable.shape):
            problems.append(
                f"shape mismatch: checkpoint {key} {_format_shape(source.shape)} "
                f"(Keras layout {_format_shape(value.shape)}) vs model weight "
                f"{target} {_format_shape(variable.shape)}"
            )
            continue
        plan.append((variable, value))
    for target in arrays_by_target:
        if target not in targets:
            problems.append(
                f"unexpected: checkpoint {keys_by_target[target]} "
                f"{_format_shape(arrays_by_target[target].shape)} -> {target} is not "
                "a weight of the model"
            )
    if problems:
        raise ValueError(
            f"cannot load the checkpoint into {model.name} ({len(problems)} "
            f"problems; {len(plan)} of {len(targets)} weights matched):\n  "
            + "\n  ".join(problems)
        )
    bar = keras.utils.Progbar(len(plan), unit_name="weight") if progress else None
    for step, (variable, value) in enumerate(plan, 1):
        variable.assign(value.astype(variable.dtype))
        if bar is not None:
            bar.update(step)
    return len(plan)
