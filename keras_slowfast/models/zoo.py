"""Weighted presets: the published SlowFast / Slow checkpoints of the model zoos.

Each entry is plain metadata: the architecture preset (``presets.py``) and the
task arguments that rebuild the reference model exactly, where its checkpoint
is published, the label set, the input settings it was evaluated with and the
accuracy its zoo reports. :mod:`keras_slowfast.models.pretrained` downloads,
converts and caches them.

Sources, read from the zoos' own files:

* PyTorchVideo ``docs/source/model_zoo.md`` (URLs, top-1 / mAP, parameters)
  and ``pytorchvideo/models/hub/{slowfast,resnet}.py`` (the hub's builders);
  these files hold ``{"model_state": ...}`` under PyTorchVideo's key names.
* PySlowFast ``MODEL_ZOO.md`` (URLs and accuracies) and the configs it names
  (``configs/Kinetics/c2/*.yaml``, ``configs/AVA/c2/*.yaml``,
  ``configs/{Kinetics,SSv2,Charades}/*multigrid*.yaml``: frames, sampling rate,
  fusion kernel, non-local placement and pooling, ``REVERSE_INPUT_CHANNEL``,
  ``HEAD_ACT``, ``DETECTION.ALIGNED``); the Kinetics and AVA v2.1/64x2 files
  are Caffe2 pickles, the others torch files under PySlowFast's key names.

Names follow ``{architecture}_{dataset}``; ``TxS`` is the Slow pathway's frames
x stride as in the paper (PySlowFast's AVA file ``SLOWFAST_32x2_R101_50_50``,
32 Fast frames at rate 2, is ``slowfast_8x8_r101_50_50_ava22``). A second
checkpoint of the same model carries its origin as a suffix (``_caffe2``,
``_multigrid``). No zoo publishes hashes of these files, so ``sha256`` is None
and the download is checked by the converter instead (every weight must be
present with its shape).
"""

import copy

from keras_slowfast.models.presets import (
    DETECTION_SPATIAL_DILATIONS,
    DETECTION_SPATIAL_STRIDES,
)

PYTORCHVIDEO_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo"
PYSLOWFAST_ZOO = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo"
PYSLOWFAST_MULTIGRID = (
    "https://dl.fbaipublicfiles.com/pyslowfast/pyslowfast/model_zoo/multigrid/model_zoo"
)
PYTORCHVIDEO_TABLE = "PyTorchVideo docs/source/model_zoo.md"
PYSLOWFAST_TABLE = "PySlowFast MODEL_ZOO.md"
# Test views of both zoos: short side 256, 256 crops (PySlowFast
# DATA.TEST_CROP_SIZE 256); AVA boxes are scored on the whole 256 frame.
KINETICS_VIEW = {"short_side": 256, "crop_size": 256}
AVA_VIEW = {"short_side": 256, "crop_size": None}
# AVA backbones: res5 at stride 1, dilation 2 (configs/AVA/c2/*.yaml).
AVA_BACKBONE = {
    "spatial_strides": DETECTION_SPATIAL_STRIDES,
    "spatial_dilations": DETECTION_SPATIAL_DILATIONS,
}
# PySlowFast's AVA R101 non-local blocks pool (2, 2, 2) (NONLOCAL.POOL).
AVA_R101_BACKBONE = {**AVA_BACKBONE, "nonlocal_pool_size": [2, 2, 2]}


def _entry(
    architecture,
    url,
    *,
    source,
    dataset,
    label_map,
    num_classes,
    num_frames,
    sampling_rate,
    accuracy,
    params_millions=None,
    task="classifier",
    view=None,
    channel_order="rgb",
    backbone=None,
    head=None,
    reference,
):
    return {
        "architecture": architecture,
        "task": task,
        "url": url,
        "source": source,
        "sha256": None,
        "dataset": dataset,
        "label_map": label_map,
        "num_classes": num_classes,
        "num_frames": num_frames,
        "sampling_rate": sampling_rate,
        "input": {"channel_order": channel_order, **(view or KINETICS_VIEW)},
        "backbone": {"num_frames": num_frames, **(backbone or {})},
        "head": dict(head or {}),
        "accuracy": accuracy,
        "params_millions": params_millions,
        "reference": reference,
    }


# Parameters of each preset's model as built here (a test checks them, and
# against the zoo's published millions where the zoo gives them).
PARAMETERS = {
    "slowfast_8x8_r50_kinetics400": 34_566_488,
    "slowfast_4x16_r50_kinetics400": 34_480_216,
    "slowfast_8x8_r101_kinetics400": 62_826_968,
    "slowfast_16x8_r101_50_50_kinetics400": 53_774_808,
    "slow_8x8_r50_kinetics400": 32_454_096,
    "slow_4x16_r50_kinetics400": 32_454_096,
    "slowfast_8x8_r50_ava22": 33_828_888,
    "slow_4x16_r50_ava22": 31_798_416,
    "slowfast_4x16_r50_kinetics400_caffe2": 34_480_216,
    "slowfast_8x8_r50_kinetics400_caffe2": 34_566_488,
    "slow_4x16_r50_kinetics400_caffe2": 32_454_096,
    "slow_8x8_r50_kinetics400_caffe2": 32_454_096,
    "slowfast_8x8_r101_50_50_ava21": 59_342_488,
    "slowfast_8x8_r101_50_50_ava22": 59_342_488,
    "slowfast_16x8_r101_50_50_ava22": 59_342_488,
    "slowfast_8x8_r50_kinetics400_stepwise": 34_566_488,
    "slowfast_8x8_r50_kinetics400_multigrid": 34_566_488,
    "slowfast_16x8_r50_ssv2": 34_045_558,
    "slowfast_16x8_r50_ssv2_multigrid": 34_045_558,
    "slowfast_16x8_r50_charades": 34_006_373,
    "slowfast_16x8_r50_charades_multigrid": 34_006_373,
}


def _kinetics(architecture, file, frames, rate, accuracy, params, **kwargs):
    return _entry(
        architecture,
        f"{PYTORCHVIDEO_ZOO}/kinetics/{file}",
        source="pytorchvideo",
        dataset="Kinetics-400",
        label_map="kinetics400",
        num_classes=400,
        num_frames=frames,
        sampling_rate=rate,
        accuracy=accuracy,
        params_millions=params,
        reference=PYTORCHVIDEO_TABLE,
        **kwargs,
    )


def _pytorchvideo_ava(architecture, file, frames, rate, mean_ap, params):
    return _entry(
        architecture,
        f"{PYTORCHVIDEO_ZOO}/ava/{file}",
        task="detector",
        source="pytorchvideo",
        dataset="AVA v2.2",
        label_map="ava",
        num_classes=80,
        num_frames=frames,
        sampling_rate=rate,
        accuracy=f"{mean_ap} mAP",
        params_millions=params,
        view=AVA_VIEW,
        backbone=AVA_BACKBONE,
        reference=PYTORCHVIDEO_TABLE,
    )


def _caffe2_kinetics(architecture, file, frames, rate, accuracy):
    return _entry(
        architecture,
        f"{PYSLOWFAST_ZOO}/kinetics400/{file}",
        source="pyslowfast",
        dataset="Kinetics-400",
        label_map="kinetics400",
        num_classes=400,
        num_frames=frames,
        sampling_rate=rate,
        accuracy=accuracy,
        reference=f"{PYSLOWFAST_TABLE} (Caffe2)",
    )


def _pyslowfast_ava(file, frames, version, accuracy):
    return _entry(
        "slowfast_16x8_r101_50_50_nl",
        f"{PYSLOWFAST_ZOO}/ava/{file}",
        task="detector",
        source="pyslowfast",
        dataset=f"AVA v{version} (Kinetics-600 pretrained)",
        label_map="ava",
        num_classes=80,
        num_frames=frames,
        sampling_rate=2,
        accuracy=accuracy,
        view=AVA_VIEW,
        backbone=AVA_R101_BACKBONE,
        head={"aligned": False},
        reference=PYSLOWFAST_TABLE,
    )


def _multigrid(folder, file, dataset, label_map, classes, accuracy, **kwargs):
    return _entry(
        "slowfast_8x8_r50",
        f"{PYSLOWFAST_MULTIGRID}/{folder}/{file}",
        source="pyslowfast",
        dataset=dataset,
        label_map=label_map,
        num_classes=classes,
        sampling_rate=2,
        accuracy=accuracy,
        reference=f"{PYSLOWFAST_TABLE}, Multigrid Training",
        **kwargs,
    )


ZOO = {
    # PyTorchVideo, Kinetics-400 (top-1 / top-5, 3 crops x 10 clips).
    "slowfast_8x8_r50_kinetics400": _kinetics(
        "slowfast_8x8_r50", "SLOWFAST_8x8_R50.pyth", 32, 2, "76.94 / 92.69", 34.57
    ),
    "slowfast_4x16_r50_kinetics400": _kinetics(
        "slowfast_4x16_r50", "SLOWFAST_4x16_R50.pyth", 32, 2, "75.34 / 91.89", 34.48
    ),
    "slowfast_8x8_r101_kinetics400": _kinetics(
        "slowfast_8x8_r101", "SLOWFAST_8x8_R101.pyth", 32, 2, "77.90 / 93.27", 62.83
    ),
    "slowfast_16x8_r101_50_50_kinetics400": _kinetics(
        "slowfast_16x8_r101_50_50",
        "SLOWFAST_16x8_R101_50_50.pyth",
        64,
        2,
        "78.70 / 93.61",
        53.77,
    ),
    "slow_8x8_r50_kinetics400": _kinetics(
        "slow_8x8_r50", "SLOW_8x8_R50.pyth", 8, 8, "74.58 / 91.63", 32.45
    ),
    "slow_4x16_r50_kinetics400": _kinetics(
        "slow_4x16_r50", "SLOW_4x16_R50.pyth", 4, 16, "72.40 / 90.18", 32.45
    ),
    # PyTorchVideo, AVA v2.2 (mAP), Kinetics-400 pretrained.
    "slowfast_8x8_r50_ava22": _pytorchvideo_ava(
        "slowfast_8x8_r50", "SLOWFAST_8x8_R50_DETECTION.pyth", 32, 2, "24.67", 33.82
    ),
    "slow_4x16_r50_ava22": _pytorchvideo_ava(
        "slow_4x16_r50", "SLOW_4x16_R50_DETECTION.pyth", 4, 16, "19.5", 31.78
    ),
    # PySlowFast, Kinetics-400, Caffe2 pickles (top-1 / top-5, 3 x 10 views).
    "slowfast_4x16_r50_kinetics400_caffe2": _caffe2_kinetics(
        "slowfast_4x16_r50", "SLOWFAST_4x16_R50.pkl", 32, 2, "75.6 / 92.0"
    ),
    "slowfast_8x8_r50_kinetics400_caffe2": _caffe2_kinetics(
        "slowfast_8x8_r50", "SLOWFAST_8x8_R50.pkl", 32, 2, "77.0 / 92.6"
    ),
    "slow_4x16_r50_kinetics400_caffe2": _caffe2_kinetics(
        "slow_4x16_r50", "SLOWONLY_4x16_R50.pkl", 4, 16, "72.7 / 90.3"
    ),
    "slow_8x8_r50_kinetics400_caffe2": _caffe2_kinetics(
        "slow_8x8_r50", "SLOWONLY_8x8_R50.pkl", 8, 8, "74.8 / 91.6"
    ),
    # PySlowFast, AVA (mAP), R101 50/50 with non-local blocks.
    "slowfast_8x8_r101_50_50_ava21": _pyslowfast_ava(
        "SLOWFAST_32x2_R101_50_50_v2.1.pkl", 32, "2.1", "28.2 mAP"
    ),
    "slowfast_8x8_r101_50_50_ava22": _pyslowfast_ava(
        "SLOWFAST_32x2_R101_50_50.pkl", 32, "2.2", "29.1 mAP"
    ),
    "slowfast_16x8_r101_50_50_ava22": _pyslowfast_ava(
        "SLOWFAST_64x2_R101_50_50.pkl", 64, "2.2", "29.4 mAP"
    ),
    # PySlowFast, Multigrid Training section.
    "slowfast_8x8_r50_kinetics400_stepwise": _multigrid(
        "Kinetics",
        "SLOWFAST_8x8_R50_stepwise.pkl",
        "Kinetics-400",
        "kinetics400",
        400,
        "76.8 / 92.7",
        num_frames=32,
    ),
    "slowfast_8x8_r50_kinetics400_multigrid": _multigrid(
        "Kinetics",
        "SLOWFAST_8x8_R50_stepwise_multigrid.pkl",
        "Kinetics-400",
        "kinetics400",
        400,
        "76.6 / 92.7",
        num_frames=32,
    ),
    "slowfast_16x8_r50_ssv2": _multigrid(
        "SSv2",
        "SLOWFAST_16x8_R50.pkl",
        "Something-Something v2 (Kinetics-400 pretrained)",
        "ssv2",
        174,
        "63.0 / 88.5",
        num_frames=64,
        channel_order="bgr",
    ),
    "slowfast_16x8_r50_ssv2_multigrid": _multigrid(
        "SSv2",
        "SLOWFAST_16x8_R50_multigrid.pkl",
        "Something-Something v2 (Kinetics-400 pretrained)",
        "ssv2",
        174,
        "63.5 / 88.7",
        num_frames=64,
        channel_order="bgr",
    ),
    "slowfast_16x8_r50_charades": _multigrid(
        "Charades",
        "SLOWFAST_16x8_R50.pkl",
        "Charades (Kinetics-400 pretrained)",
        "charades",
        157,
        "38.9 mAP",
        num_frames=64,
        channel_order="bgr",
        head={"activation": "sigmoid"},
    ),
    "slowfast_16x8_r50_charades_multigrid": _multigrid(
        "Charades",
        "SLOWFAST_16x8_R50_multigrid.pkl",
        "Charades (Kinetics-400 pretrained)",
        "charades",
        157,
        "38.6 mAP",
        num_frames=64,
        channel_order="bgr",
        head={"activation": "sigmoid"},
    ),
}

for _name, _entry_values in ZOO.items():
    _entry_values["parameters"] = PARAMETERS[_name]


def zoo_names():
    """Names of the weighted presets, sorted."""
    return sorted(ZOO)


def is_zoo_name(name):
    """Whether ``name`` is a weighted preset."""
    return isinstance(name, str) and name in ZOO


def zoo_entry(name):
    """A copy of a weighted preset's metadata.

    Raises:
        ValueError: an unknown name, listing the weighted presets.
    """
    if name not in ZOO:
        raise ValueError(
            f"{name!r} is not a weighted preset; known: {', '.join(zoo_names())}"
        )
    return copy.deepcopy(ZOO[name])
