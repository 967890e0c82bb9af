"""CamelCase factories that build the reference SlowFast configurations."""

from keras_slowfast.models import presets
from keras_slowfast.models.slowfast import DEPTHS, SlowFastNet


def beta_to_inverse(beta):
    """Returns k for ``beta = 1/k``; raises a ValueError for any other beta."""
    try:
        inverse = 1.0 / float(beta)
    except (TypeError, ValueError, ZeroDivisionError):
        raise ValueError(f"beta={beta!r} must be of the form 1/k, e.g. 1/8") from None
    k = round(inverse)
    if k < 1 or abs(inverse - k) > 1e-6:
        raise ValueError(f"beta={beta!r} must be of the form 1/k (k an integer >= 1)")
    return int(k)


def _depth_config(depth):
    if depth not in DEPTHS:
        raise ValueError(
            f"depth={depth!r} is not supported; expected one of {sorted(DEPTHS)}"
        )
    return DEPTHS[depth]


def _nonlocal_stages(nonlocal_blocks, depth):
    """``True`` -> the reference placement for the depth; lists pass through."""
    if nonlocal_blocks is True:
        return presets.NONLOCAL_R50 if depth == 50 else presets.NONLOCAL_R101
    if not nonlocal_blocks:
        return None
    return nonlocal_blocks


def SlowFast(
    *,
    depth=50,
    alpha=4,
    beta=1 / 8,
    num_frames=32,
    fusion="tconv",
    fusion_kernel=None,
    nonlocal_blocks=None,
    fast_input="rgb",
    num_classes=400,
    include_top=True,
    **kwargs,
):
    """Builds a SlowFast network from the paper's hyperparameters.

    Args:
        depth: int. ResNet depth, 50, 101 or 152.
        alpha: int. Fast/Slow frame-rate ratio.
        beta: float. Fast/Slow channel ratio, of the form 1/k.
        num_frames: int. Frames per input clip (Fast pathway); the Slow pathway
            sees ``num_frames // alpha``.
        fusion: str. ``"tconv"`` (default), ``"tsample"``, ``"ttoc_sum"`` or
            ``"ttoc_concat"``.
        fusion_kernel: int or None. T-conv temporal kernel; None picks the
            reference value (7 for R50 with alpha 4 and no non-local, else 5).
        nonlocal_blocks: None, True (the reference placement for the depth) or
            4 lists of Slow block indices.
        fast_input: str. ``"rgb"``, ``"gray"`` or ``"diff"``.
        num_classes: int. Output classes.
        include_top: bool. False returns pooled features.
        **kwargs: Any other ``SlowFastNet`` argument (``dropout_rate``,
            ``head_activation``, ``image_size``, ``temporal_kernel_sizes``,
            ``name``...).

    Returns:
        A ``SlowFastNet``.

    Examples:
    >>> model = SlowFast(depth=50, alpha=8, beta=1/8, num_classes=10)
    """
    stage_depths = _depth_config(depth)
    nonlocal_stages = _nonlocal_stages(nonlocal_blocks, depth)
    if fusion_kernel is None:
        fusion_kernel = 7 if depth == 50 and alpha == 4 and not nonlocal_stages else 5
    return SlowFastNet(
        stage_depths=stage_depths,
        alpha=alpha,
        beta_inv=beta_to_inverse(beta),
        num_frames=num_frames,
        fusion=fusion,
        fusion_kernel_size=fusion_kernel,
        nonlocal_blocks=nonlocal_stages,
        fast_input=fast_input,
        num_classes=num_classes,
        include_top=include_top,
        **kwargs,
    )


def SlowFastR50(*, alpha=8, beta=1 / 8, num_frames=32, **kwargs):
    """SlowFast R50: 4x16 with ``alpha=8`` (default), 8x8 with ``alpha=4``.

    Matches PyTorchVideo ``slowfast_r50`` (8x8, 34,566,488 parameters with 400
    classes) and the 4x16 R50 of the paper. See :func:`SlowFast` for the
    arguments.
    """
    return SlowFast(depth=50, alpha=alpha, beta=beta, num_frames=num_frames, **kwargs)


def SlowFastR101(*, alpha=4, beta=1 / 8, num_frames=32, layout="all", **kwargs):
    """SlowFast R101; 8x8 by default, 16x8 with ``num_frames=64``.

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
            presets.preset_config("slowfast_16x8_r101_50_50")["temporal_kernel_sizes"],
        )
    return SlowFast(depth=101, alpha=alpha, beta=beta, num_frames=num_frames, **kwargs)


def SlowOnly(*, depth=50, num_frames=8, alpha=1, num_classes=400, **kwargs):
    """The Slow pathway alone (PyTorchVideo ``slow_r50`` for 8 frames).

    With ``alpha > 1`` the model reads a clip of ``num_frames`` frames and keeps
    ``num_frames // alpha`` of them exactly as SlowFast's Slow pathway does, so
    both can be trained from one data pipeline.
    """
    return SlowFastNet(
        stage_depths=_depth_config(depth),
        pathways="slow",
        alpha=alpha,
        num_frames=num_frames,
        num_classes=num_classes,
        **kwargs,
    )


def FastOnly(
    *, depth=50, alpha=8, beta=1 / 8, num_frames=32, num_classes=400, **kwargs
):
    """The Fast pathway alone (the paper's Fast-only ablation)."""
    return SlowFastNet(
        stage_depths=_depth_config(depth),
        pathways="fast",
        alpha=alpha,
        beta_inv=beta_to_inverse(beta),
        num_frames=num_frames,
        num_classes=num_classes,
        **kwargs,
    )


def from_preset(name, **overrides):
    """Builds a named preset (see ``preset_names()``) with overrides applied."""
    config = presets.preset_config(name)
    config.update(overrides)
    return SlowFastNet(**config)
