"""Architecture constants and named presets (plain ``SlowFastBackbone`` configs).

Each preset reproduces a reference model (the paper's Table 1 / Table 2 models
and the PyTorchVideo / PySlowFast model zoos). ``reference`` records what the
preset is checked against; it is documentation, not a constructor argument.
"""

import copy

PATHWAYS = ("slowfast", "slow", "fast")
STAGE_NAMES = ("res2", "res3", "res4", "res5")
# Lateral connections: after the stem and after res2, res3 and res4.
FUSION_NAMES = ("fuse_stem", "fuse_res2", "fuse_res3", "fuse_res4")
R50 = [3, 4, 6, 3]
R101 = [3, 4, 23, 3]
# Bottleneck ResNet depth -> blocks per stage (He et al. 2016, Table 1).
DEPTHS = {50: R50, 101: R101, 152: [3, 8, 36, 3]}
# Temporal kernel of conv a per stage (res2..res5) and of the stems (paper
# Table 1: the Slow pathway has temporal convolutions only in res4 and res5).
DEFAULT_TEMPORAL_KERNELS = {"slow": [1, 1, 3, 3], "fast": [3, 3, 3, 3]}
DEFAULT_STEM_TEMPORAL_KERNELS = {"slow": 1, "fast": 5}
# AVA detection backbone: res5 keeps stride 16 by dilation instead of striding
# (paper section 5.1; PyTorchVideo slowfast_r50_detection).
DETECTION_SPATIAL_STRIDES = [1, 2, 2, 1]
DETECTION_SPATIAL_DILATIONS = [1, 1, 1, 2]


def reference_fusion_kernel_size(stage_depths, alpha, nonlocal_blocks):
    """The T-conv fusion kernel of the reference models for an architecture.

    PyTorchVideo's ``slowfast_r50`` (8x8, alpha 4) uses 7; the 4x16 R50, R101
    and the non-local configs of PySlowFast use 5.
    """
    has_nonlocal = any(nonlocal_blocks or [])
    if list(stage_depths) == R50 and int(alpha) == 4 and not has_nonlocal:
        return 7
    return 5


# Non-local placements of the PySlowFast NL configs (Slow pathway only).
NONLOCAL_R50 = [[], [1, 3], [1, 3, 5], []]
NONLOCAL_R101 = [[], [], [6, 13, 20], []]


def _r101_50_50_kernels():
    # PySlowFast NUM_BLOCK_TEMP_KERNEL [[3,3],[4,4],[6,6],[3,3]]: only the first 6
    # res4 blocks keep their temporal kernel, in both pathways.
    res4 = [3] * 6 + [1] * 17
    return {"slow": [1, 1, res4, 3], "fast": [3, 3, res4, 3]}


_PRESETS = {
    "slowfast_4x16_r50": {
        "config": {
            "stage_depths": R50,
            "alpha": 8,
            "num_frames": 32,
            "fusion_kernel_size": 5,
        },
        "reference": "PyTorchVideo create_slowfast (fusion 5, stride 8); "
        "34,480,216 params",
    },
    "slowfast_8x8_r50": {
        "config": {
            "stage_depths": R50,
            "alpha": 4,
            "num_frames": 32,
            "fusion_kernel_size": 7,
        },
        "reference": "PyTorchVideo slowfast_r50; 34,566,488 params",
    },
    "slowfast_8x8_r101": {
        "config": {
            "stage_depths": R101,
            "alpha": 4,
            "num_frames": 32,
            "fusion_kernel_size": 5,
        },
        "reference": "PyTorchVideo slowfast_r101; 62,826,968 params",
    },
    "slowfast_16x8_r101_50_50": {
        "config": {
            "stage_depths": R101,
            "alpha": 4,
            "num_frames": 64,
            "fusion_kernel_size": 5,
            "temporal_kernel_sizes": _r101_50_50_kernels(),
        },
        "reference": "PyTorchVideo slowfast_16x8_r101_50_50; 53,774,808 params",
    },
    "slow_8x8_r50": {
        "config": {
            "stage_depths": R50,
            "pathways": "slow",
            "alpha": 1,
            "num_frames": 8,
        },
        "reference": "PyTorchVideo slow_r50 (Slow-only 8x8)",
    },
    "slow_4x16_r50": {
        "config": {
            "stage_depths": R50,
            "pathways": "slow",
            "alpha": 1,
            "num_frames": 4,
        },
        "reference": "paper Slow-only 4x16 ablation",
    },
    "fast_4x16_r50": {
        "config": {
            "stage_depths": R50,
            "pathways": "fast",
            "alpha": 8,
            "num_frames": 32,
        },
        "reference": "paper Fast-only ablation (alpha 8, beta 1/8)",
    },
}

for _name, _stages in (
    ("slowfast_4x16_r50", NONLOCAL_R50),
    ("slowfast_8x8_r50", NONLOCAL_R50),
    ("slowfast_8x8_r101", NONLOCAL_R101),
    ("slowfast_16x8_r101_50_50", NONLOCAL_R101),
):
    _nl = copy.deepcopy(_PRESETS[_name])
    # PySlowFast's NL configs use fusion kernel 5
    # (configs/Kinetics/SLOWFAST_NLN_8x8_R50.yaml: FUSION_KERNEL_SZ 5).
    _nl["config"].update({"nonlocal_blocks": _stages, "fusion_kernel_size": 5})
    _nl["reference"] = f"{_name} + non-local blocks {_stages} (PySlowFast NL configs)"
    _PRESETS[_name + "_nl"] = _nl


# name -> what the preset reproduces (``SlowFastBackbone.presets``).
PRESET_DESCRIPTIONS = {name: entry["reference"] for name, entry in _PRESETS.items()}


def preset_names():
    """Names of all presets, sorted."""
    return sorted(_PRESETS)


def preset_config(name):
    """A fresh copy of a preset's ``SlowFastBackbone`` config.

    Raises:
        ValueError: for an unknown preset, listing the known ones.
    """
    if name not in _PRESETS:
        raise ValueError(f"Unknown preset {name!r}; known presets: {preset_names()}")
    return copy.deepcopy(_PRESETS[name]["config"])


def preset_reference(name):
    """What the preset reproduces (reference model and published counts)."""
    preset_config(name)
    return _PRESETS[name]["reference"]
