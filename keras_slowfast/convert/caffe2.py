"""Caffe2 blob names of the original PySlowFast zoo -> PySlowFast module names.

The Kinetics SlowFast / Slow-only ``.pkl`` files of PySlowFast's MODEL_ZOO.md
were trained in Caffe2 and hold ``{"blobs": {name: array}}``. PySlowFast
renames the blobs when it loads them (``slowfast/utils/c2_model_loading.py``);
the facts used here are its naming conventions:

* the Fast pathway's blobs carry a ``t_`` prefix, the Slow pathway's none;
* ``conv1`` / ``res_conv1_bn`` are the stem, ``res{s}_{i}_branch2{a,b,c}`` and
  ``res{s}_{i}_branch1`` the bottleneck units of stage ``s``, block ``i``;
* ``t_pool1_subsample`` is the lateral connection after the stem and
  ``t_res{s}_{i}_branch2c_bn_subsample`` the one after stage ``s``;
* ``nonlocal_conv{s}_{i}_{theta,phi,g,out,bn}`` the non-local block after
  Slow block ``i`` of stage ``s``; ``pred`` the classifier;
* ``_w`` / ``_b`` are weight and bias, and a BN's ``_s``, ``_b``, ``_rm``,
  ``_riv`` its scale, offset, running mean and running variance;
* blobs of the solver (``*_momentum``, ``lr``, ``model_iter``) are not weights.

The result uses PySlowFast's names (``s2.pathway1_res0.branch2.a.weight``), so
the PySlowFast key rules (``convert/pyslowfast.py``) map it onto the model.
"""

import re

# Blob-name parts that belong to the solver, not the model (PySlowFast skips them).
SOLVER_PARTS = ("momentum", "lr", "model_iter")
_BN_PARAMS = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_PARAMS = {"w": "weight", "b": "bias"}
_BN = r"_bn_(?P<bn>s|b|rm|riv)"
_PARAM = r"_(?P<param>w|b)"


def _pathway(groups):
    return "pathway1" if groups.get("fast") else "pathway0"


# (full-match pattern, PySlowFast module for the match); patterns with a
# ``bn`` group name BN parameters, the others conv / linear parameters.
_RULES = [
    (r"(?P<fast>t_)?conv1" + _PARAM, lambda g: f"s1.{_pathway(g)}_stem.conv"),
    (r"(?P<fast>t_)?res_conv1" + _BN, lambda g: f"s1.{_pathway(g)}_stem.bn"),
    (r"t_pool1_subsample" + _PARAM, lambda g: "s1_fuse.conv_f2s"),
    (r"t_pool1_subsample" + _BN, lambda g: "s1_fuse.bn"),
    (
        r"t_res(?P<s>\d)_\d+_branch2c_bn_subsample" + _PARAM,
        lambda g: f"s{g['s']}_fuse.conv_f2s",
    ),
    (
        r"t_res(?P<s>\d)_\d+_branch2c_bn_subsample" + _BN,
        lambda g: f"s{g['s']}_fuse.bn",
    ),
    (
        r"(?P<fast>t_)?res(?P<s>\d)_(?P<i>\d+)_branch2(?P<u>[abc])" + _PARAM,
        lambda g: f"s{g['s']}.{_pathway(g)}_res{g['i']}.branch2.{g['u']}",
    ),
    (
        r"(?P<fast>t_)?res(?P<s>\d)_(?P<i>\d+)_branch2(?P<u>[abc])" + _BN,
        lambda g: f"s{g['s']}.{_pathway(g)}_res{g['i']}.branch2.{g['u']}_bn",
    ),
    (
        r"(?P<fast>t_)?res(?P<s>\d)_(?P<i>\d+)_branch1" + _PARAM,
        lambda g: f"s{g['s']}.{_pathway(g)}_res{g['i']}.branch1",
    ),
    (
        r"(?P<fast>t_)?res(?P<s>\d)_(?P<i>\d+)_branch1" + _BN,
        lambda g: f"s{g['s']}.{_pathway(g)}_res{g['i']}.branch1_bn",
    ),
    (
        r"nonlocal_conv(?P<s>\d)_(?P<i>\d+)_(?P<u>theta|phi|g|out)" + _PARAM,
        lambda g: f"s{g['s']}.pathway0_nonlocal{g['i']}.conv_{g['u']}",
    ),
    (
        r"nonlocal_conv(?P<s>\d)_(?P<i>\d+)" + _BN,
        lambda g: f"s{g['s']}.pathway0_nonlocal{g['i']}.bn",
    ),
    (r"pred" + _PARAM, lambda g: "head.projection"),
]
RULES = [(re.compile(pattern), module) for pattern, module in _RULES]


def is_solver_blob(name):
    """Whether a blob is solver state (momentum, learning rate, iteration)."""
    return any(part in name for part in SOLVER_PARTS)


def caffe2_name(name):
    """The PySlowFast key of a Caffe2 weight blob, or None when no rule matches.

    Examples:
    >>> caffe2_name("t_res3_1_branch2b_bn_riv")
    's3.pathway1_res1.branch2.b_bn.running_var'
    >>> caffe2_name("t_res4_5_branch2c_bn_subsample_w")
    's4_fuse.conv_f2s.weight'
    """
    for pattern, module in RULES:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("bn"):
            return f"{module(groups)}.{_BN_PARAMS[groups['bn']]}"
        return f"{module(groups)}.{_PARAMS[groups['param']]}"
    return None


def is_caffe2_checkpoint(checkpoint):
    """Whether a loaded checkpoint is a Caffe2 ``{"blobs": ...}`` pickle."""
    return isinstance(checkpoint, dict) and isinstance(checkpoint.get("blobs"), dict)


def caffe2_state_dict(checkpoint):
    """The weights of a Caffe2 checkpoint under PySlowFast's names.

    Solver blobs are left out; a weight blob that no rule names is an error.

    Args:
        checkpoint: dict with ``"blobs"``: name -> array.

    Returns:
        dict of PySlowFast key -> array.

    Raises:
        ValueError: listing every blob that no rule names.
    """
    state, unknown = {}, []
    for name, value in checkpoint["blobs"].items():
        if is_solver_blob(name):
            continue
        key = caffe2_name(name)
        if key is None:
            unknown.append(f"{name} {tuple(getattr(value, 'shape', ()))}")
            continue
        state[key] = value
    if unknown:
        raise ValueError(
            f"{len(unknown)} Caffe2 blobs have no PySlowFast name:\n  "
            + "\n  ".join(unknown)
        )
    return state
