"""CamelCase factories that build the reference SlowFast classifiers.

Each factory builds a :class:`SlowFastBackbone` from the paper's
hyperparameters and wraps it in a :class:`SlowFastVideoClassifier`. Keyword
arguments are split by name: backbone arguments (``alpha``, ``beta`` /
``beta_inv``, ``num_frames``, ``fusion_kernel_size``, ``image_size``,
``dtype``...) go to the backbone, the others (``num_classes``,
``dropout_rate``, ``activation``, ``preprocessor``, ``name``...) to the task.
"""

from keras_slowfast.models.backbone import (
    SlowFastBackbone,
    backbone_argument_names,
    split_arguments,
)
from keras_slowfast.models.classifier import SlowFastVideoClassifier
from keras_slowfast.models.preprocessor import VideoPreprocessor
from keras_slowfast.models.presets import (
    DEPTHS,
    NONLOCAL_R50,
    NONLOCAL_R101,
    preset_config,
)


def _stage_depths(depth):
    if depth not in DEPTHS:
        raise ValueError(
            f"depth={depth!r} is not supported; expected one of {sorted(DEPTHS)}"
        )
    return DEPTHS[depth]


def _nonlocal_stages(nonlocal_blocks, depth):
    """``True`` -> the reference placement for the depth; lists pass through."""
    if nonlocal_blocks is True:
        return NONLOCAL_R50 if depth == 50 else NONLOCAL_R101
    return nonlocal_blocks or None


def classifier_from_arguments(**arguments):
    """A :class:`SlowFastVideoClassifier` from backbone and task arguments in one.

    ``input_convention`` (a ``{"mean", "std", "channel_order"}`` dict, as run
    configs write it) stands for ``preprocessor=VideoPreprocessor(...)``.

    Examples:
    >>> model = classifier_from_arguments(stage_depths=[1, 1, 1, 1], alpha=4,
    ...                                   num_frames=8, num_classes=5)
    """
    arguments = dict(arguments)
    if "input_convention" in arguments:
        if "preprocessor" in arguments:
            raise ValueError("give input_convention or preprocessor, not both")
        arguments["preprocessor"] = VideoPreprocessor.from_convention(
            arguments.pop("input_convention")
        )
    backbone_args, task_args = split_arguments(arguments)
    return SlowFastVideoClassifier(SlowFastBackbone(**backbone_args), **task_args)


def classifier_argument_names():
    """Every argument :func:`classifier_from_arguments` accepts."""
    import inspect

    parameters = inspect.signature(SlowFastVideoClassifier.__init__).parameters
    task = {n for n in parameters if n not in ("self", "backbone", "kwargs")}
    return (
        backbone_argument_names()
        | task
        | {
            "dtype",
            "name",
            "trainable",
            "input_convention",
        }
    )


def _classifier(num_classes, arguments):
    return classifier_from_arguments(num_classes=num_classes, **arguments)


def SlowFast(
    *,
    depth=50,
    alpha=8,
    beta=1 / 8,
    num_frames=32,
    nonlocal_blocks=None,
    num_classes=400,
    **kwargs,
):
    """Builds a SlowFast classifier from the paper's hyperparameters.

    Args:
        depth: int. ResNet depth, 50, 101 or 152; selects ``stage_depths``.
        alpha: int. Fast/Slow frame-rate ratio (8: the 4x16 model).
        beta: float. Fast/Slow channel ratio, of the form 1/k (or give
            ``beta_inv=k``).
        num_frames: int. Frames per input clip (Fast pathway); the Slow pathway
            sees ``num_frames // alpha``.
        nonlocal_blocks: None, True (the reference placement for the depth) or
            4 lists of Slow block indices.
        num_classes: int. Output classes.
        **kwargs: any other :class:`SlowFastBackbone` argument (``fusion``,
            ``fusion_kernel_size`` (default: the reference value),
            ``fast_input``, ``image_size``, ``dtype``...) or
            :class:`SlowFastVideoClassifier` argument (``dropout_rate``,
            ``activation``, ``preprocessor``, ``name``...).

    Returns:
        A ``SlowFastVideoClassifier``.

    Examples:
    >>> model = SlowFast(depth=50, alpha=8, beta=1/8, num_classes=10)
    """
    if "beta_inv" not in kwargs:
        kwargs["beta"] = beta
    return _classifier(
        num_classes,
        {
            "stage_depths": _stage_depths(depth),
            "alpha": alpha,
            "num_frames": num_frames,
            "nonlocal_blocks": _nonlocal_stages(nonlocal_blocks, depth),
            **kwargs,
        },
    )


def SlowFastR50(*, alpha=8, beta=1 / 8, num_frames=32, **kwargs):
    """SlowFast R50: 4x16 with ``alpha=8`` (default), 8x8 with ``alpha=4``.

    Matches PyTorchVideo ``slowfast_r50`` (8x8, 34,566,488 parameters with 400
    classes) and the 4x16 R50 of the paper. See :func:`SlowFast` for the
    arguments.
    """
    return SlowFast(depth=50, alpha=alpha, beta=beta, num_frames=num_frames, **kwargs)


def SlowFastR101(*, alpha=8, beta=1 / 8, num_frames=32, layout="all", **kwargs):
    """SlowFast R101: 4x16 with ``alpha=8`` (default), 8x8 with ``alpha=4``.

    Args:
        layout: str. ``"all"``: every res4 block has a temporal kernel
            (PyTorchVideo ``slowfast_r101``); ``"50_50"``: only the first 6
            (PySlowFast / PyTorchVideo ``slowfast_16x8_r101_50_50``).
        **kwargs: see :func:`SlowFast`.
    """
    if layout not in ("all", "50_50"):
        raise ValueError(
            f"layout={layout!r} is not supported; expected 'all' or '50_50'"
        )
    if layout == "50_50":
        kwargs.setdefault(
            "temporal_kernel_sizes",
            preset_config("slowfast_16x8_r101_50_50")["temporal_kernel_sizes"],
        )
    return SlowFast(depth=101, alpha=alpha, beta=beta, num_frames=num_frames, **kwargs)


def SlowOnly(*, depth=50, alpha=1, num_frames=8, num_classes=400, **kwargs):
    """The Slow pathway alone (PyTorchVideo ``slow_r50`` for 8 frames).

    With ``alpha > 1`` the model reads a clip of ``num_frames`` frames and keeps
    ``num_frames // alpha`` of them exactly as SlowFast's Slow pathway does, so
    both can be trained from one data pipeline.
    """
    return _classifier(
        num_classes,
        {
            "stage_depths": _stage_depths(depth),
            "pathways": "slow",
            "alpha": alpha,
            "num_frames": num_frames,
            **kwargs,
        },
    )


def FastOnly(
    *, depth=50, alpha=8, beta=1 / 8, num_frames=32, num_classes=400, **kwargs
):
    """The Fast pathway alone (the paper's Fast-only ablation)."""
    if "beta_inv" not in kwargs:
        kwargs["beta"] = beta
    return _classifier(
        num_classes,
        {
            "stage_depths": _stage_depths(depth),
            "pathways": "fast",
            "alpha": alpha,
            "num_frames": num_frames,
            **kwargs,
        },
    )


def from_preset(name, num_classes=400, **kwargs):
    """A classifier on a named preset (see ``preset_names()``), with overrides.

    Same as ``SlowFastVideoClassifier.from_preset(name, num_classes, ...)``.
    """
    return SlowFastVideoClassifier.from_preset(name, num_classes, **kwargs)
