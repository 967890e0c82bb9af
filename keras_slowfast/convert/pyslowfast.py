"""Key rules for PySlowFast-native checkpoints (``s1.pathway0_stem...``).

Layout (PySlowFast ``slowfast/models/video_model_builder.py``):
``s1`` is the stem, ``s2..s5`` are res2..res5, ``s{n}_fuse`` the lateral
connection after stage n (``s1_fuse`` after the stem), ``pathway0`` is Slow and
``pathway1`` Fast, ``pathway0_nonlocal{i}`` the non-local block after block i,
and ``head.projection`` the classifier (also in the detection head).
"""

from keras_slowfast.convert.common import (
    FUSION_NAMES,
    PATHWAY_NAMES,
    KeyRule,
    map_key_with_rules,
)

_BLOCK_UNITS = {
    "branch1": ("shortcut", "param"),
    "branch1_bn": ("shortcut", "bn"),
    "branch2.a": ("conv_a", "param"),
    "branch2.a_bn": ("conv_a", "bn"),
    "branch2.b": ("conv_b", "param"),
    "branch2.b_bn": ("conv_b", "bn"),
    "branch2.c": ("conv_c", "param"),
    "branch2.c_bn": ("conv_c", "bn"),
}
_NONLOCAL_UNITS = {
    "conv_theta": ("theta", "param"),
    "conv_phi": ("phi", "param"),
    "conv_g": ("g", "param"),
    "conv_out": ("out", "param"),
    "bn": ("bn", "bn"),
}


def _stage(groups):
    return f"{PATHWAY_NAMES[int(groups['p'])]}_res{groups['n']}"


def _rules():
    rules = [
        KeyRule(
            r"s1\.pathway(?P<p>[01])_stem\.conv",
            lambda g: f"{PATHWAY_NAMES[int(g['p'])]}_stem/conv/conv",
            "param",
        ),
        KeyRule(
            r"s1\.pathway(?P<p>[01])_stem\.bn",
            lambda g: f"{PATHWAY_NAMES[int(g['p'])]}_stem/conv/bn",
            "bn",
        ),
        KeyRule(
            r"s(?P<n>[1-4])_fuse\.conv_f2s",
            lambda g: f"{FUSION_NAMES[int(g['n']) - 1]}/conv/conv",
            "param",
        ),
        KeyRule(
            r"s(?P<n>[1-4])_fuse\.bn",
            lambda g: f"{FUSION_NAMES[int(g['n']) - 1]}/conv/bn",
            "bn",
        ),
        KeyRule(r"head\.projection", lambda g: "head/proj", "param"),
    ]
    for unit, (name, kind) in _BLOCK_UNITS.items():
        layer = "conv" if kind == "param" else "bn"
        rules.append(
            KeyRule(
                r"s(?P<n>[2-5])\.pathway(?P<p>[01])_res(?P<i>\d+)\."
                + unit.replace(".", r"\."),
                lambda g, name=name, layer=layer: (
                    f"{_stage(g)}/block{g['i']}/{name}/{layer}"
                ),
                kind,
            )
        )
    for unit, (name, kind) in _NONLOCAL_UNITS.items():
        rules.append(
            KeyRule(
                rf"s(?P<n>[2-5])\.pathway(?P<p>[01])_nonlocal(?P<i>\d+)\.{unit}",
                lambda g, name=name: f"{_stage(g)}/nonlocal{g['i']}/{name}",
                kind,
            )
        )
    return rules


RULES = _rules()


def map_key(key):
    """The Keras target of a PySlowFast key, or None when no rule matches.

    Examples:
    >>> map_key("s3.pathway0_nonlocal1.conv_theta.weight")
    'slow_res3/nonlocal1/theta/kernel'
    >>> map_key("s2_fuse.bn.running_var")
    'fuse_res2/conv/bn/moving_variance'
    """
    return map_key_with_rules(key, RULES)


def matches(keys):
    """How many of ``keys`` look like PySlowFast keys (for source detection)."""
    return sum(
        1
        for key in keys
        if key.startswith(("s1.", "s2.", "s3.", "s4.", "s5.", "head.projection"))
        or "_fuse." in key
    )
