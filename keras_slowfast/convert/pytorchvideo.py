"""Key rules for PyTorchVideo SlowFast checkpoints (``blocks.N....``).

Layout (PyTorchVideo ``pytorchvideo/models/slowfast.py``, ``create_slowfast``):
``blocks.0`` is the stem, ``blocks.1..4`` are res2..res5,
``blocks.0..3.multipathway_fusion`` the lateral connections, and the last
block's ``proj`` the classifier. Pathway 0 is
Slow, 1 is Fast. Detection checkpoints (``slowfast_r50_detection``) put the
backbone under ``model.`` and the classifier at ``detection_head.proj``.
Single-pathway ResNets (``slow_r50``) have no ``multipathway_blocks`` level and
map onto the Slow pathway.
"""

from keras_slowfast.convert.common import (
    FUSION_NAMES,
    PATHWAY_NAMES,
    KeyRule,
    map_key_with_rules,
)

_CONV_UNITS = {
    "branch1_conv": ("shortcut", "param"),
    "branch1_norm": ("shortcut", "bn"),
    "branch2.conv_a": ("conv_a", "param"),
    "branch2.norm_a": ("conv_a", "bn"),
    "branch2.conv_b": ("conv_b", "param"),
    "branch2.norm_b": ("conv_b", "bn"),
    "branch2.conv_c": ("conv_c", "param"),
    "branch2.norm_c": ("conv_c", "bn"),
}
_PATHWAY = r"(?:multipathway_blocks\.(?P<p>[01])\.)?"


def _pathway(groups):
    return PATHWAY_NAMES[int(groups["p"] or 0)]


def _rules():
    rules = [
        KeyRule(
            rf"blocks\.0\.{_PATHWAY}conv",
            lambda g: f"{_pathway(g)}_stem/conv/conv",
            "param",
        ),
        KeyRule(
            rf"blocks\.0\.{_PATHWAY}norm",
            lambda g: f"{_pathway(g)}_stem/conv/bn",
            "bn",
        ),
        KeyRule(
            r"blocks\.(?P<s>[0-3])\.multipathway_fusion\.conv_fast_to_slow",
            lambda g: f"{FUSION_NAMES[int(g['s'])]}/conv/conv",
            "param",
        ),
        KeyRule(
            r"blocks\.(?P<s>[0-3])\.multipathway_fusion\.norm",
            lambda g: f"{FUSION_NAMES[int(g['s'])]}/conv/bn",
            "bn",
        ),
        KeyRule(
            r"(?:blocks\.\d+|detection_head)\.proj", lambda g: "head/proj", "param"
        ),
    ]
    for unit, (name, kind) in _CONV_UNITS.items():
        layer = "conv" if kind == "param" else "bn"
        rules.append(
            KeyRule(
                rf"blocks\.(?P<s>[1-4])\.{_PATHWAY}res_blocks\.(?P<i>\d+)\."
                + unit.replace(".", r"\."),
                lambda g, name=name, layer=layer: (
                    f"{_pathway(g)}_res{int(g['s']) + 1}/block{g['i']}/{name}/{layer}"
                ),
                kind,
            )
        )
    return rules


RULES = _rules()
PREFIXES = (("model.", ""),)


def map_key(key):
    """The Keras target of a PyTorchVideo key, or None when no rule matches.

    Examples:
    >>> map_key("blocks.2.multipathway_blocks.1.res_blocks.0.branch2.conv_a.weight")
    'fast_res3/block0/conv_a/conv/kernel'
    >>> map_key("detection_head.proj.bias")
    'head/proj/bias'
    """
    return map_key_with_rules(key, RULES, PREFIXES)


def matches(keys):
    """How many of ``keys`` look like PyTorchVideo keys (for source detection)."""
    return sum(
        1
        for key in keys
        if key.startswith(("blocks.", "model.blocks.", "detection_head."))
    )
