"""SlowFastBackbone: a clip in, the pathways' final feature maps out."""

import inspect

import keras

from keras_slowfast.layers.fusion import FUSION_MODES, LateralFusion
from keras_slowfast.layers.pack_pathways import FAST_INPUTS, PackPathways, check_frames
from keras_slowfast.layers.res_stage import ResStage
from keras_slowfast.layers.stem import PathwayStem
from keras_slowfast.layers.utils import check_choice, check_model_keywords, register
from keras_slowfast.models.presets import (
    DEFAULT_STEM_TEMPORAL_KERNELS,
    DEFAULT_TEMPORAL_KERNELS,
    FUSION_NAMES,
    PATHWAYS,
    PRESET_DESCRIPTIONS,
    STAGE_NAMES,
    preset_config,
    reference_fusion_kernel_size,
)


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


def _expand_per_block(value, stage_depths, name):
    """Turns one int, or per-stage ints/lists, into per-stage per-block lists."""
    if isinstance(value, int):
        value = [value] * len(stage_depths)
    if len(value) != len(stage_depths):
        raise ValueError(
            f"{name}={value!r} must give {len(stage_depths)} stages (res2..res5)"
        )
    stages = []
    for stage, (entry, depth) in enumerate(zip(value, stage_depths, strict=True)):
        blocks = (
            [int(entry)] * depth if isinstance(entry, int) else [int(k) for k in entry]
        )
        if len(blocks) != depth:
            raise ValueError(
                f"{name} for {STAGE_NAMES[stage]} lists {len(blocks)} blocks, "
                f"the stage has {depth}"
            )
        stages.append(blocks)
    return stages


def _positive_ints(values, name, count=4):
    try:
        values = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}={values!r} must be a list of {count} positive ints"
        ) from None
    if len(values) != count or min(values) < 1:
        raise ValueError(f"{name}={values} must be {count} positive ints")
    return values


@register
class SlowFastBackbone(keras.Model):
    """The SlowFast network without a head: a clip in, ``[slow, fast]`` maps out.

    The model takes one clip ``(batch, num_frames, height, width, 3)``, channels
    last, normalized by the task's :class:`VideoPreprocessor`, and packs the
    pathways itself: the Fast pathway sees all ``num_frames`` frames with
    ``1 / beta_inv`` of the channels, the Slow pathway ``num_frames // alpha``
    frames. Lateral connections (``fuse_stem``, ``fuse_res2`` ...) fuse Fast
    into Slow after the stem and after res2, res3 and res4 (paper section 3).
    The outputs are the res5 maps ``[slow, fast]`` (one map for the
    single-pathway ablations ``pathways="slow"`` / ``"fast"``): feature
    extraction is the backbone itself; the task models
    (:class:`SlowFastVideoClassifier`, :class:`SlowFastDetector`) add heads.

    The defaults are the paper's SlowFast 4x16 R50 (alpha 8, beta 1/8, 32
    frames). Every constructor argument is a JSON-friendly architecture value,
    so ``SlowFastBackbone.from_config(backbone.get_config())`` rebuilds it;
    ``SlowFastBackbone.from_preset(name)`` builds a reference configuration
    (``SlowFastBackbone.presets`` lists them).

    Args:
        stage_depths: list of 4 ints. Bottleneck blocks in res2..res5.
        pathways: str. ``"slowfast"``, or ``"slow"`` / ``"fast"`` for the
            single-pathway ablations.
        alpha: int. Fast/Slow frame-rate ratio. A Slow-only model with
            ``alpha > 1`` samples its frames from the clip like SlowFast does.
        beta_inv: int. Slow/Fast channel ratio (beta = 1 / beta_inv).
        beta: float or None. Alternatively beta itself, of the form 1/k; it is
            stored as ``beta_inv``.
        num_frames: int. Frames in the input clip.
        stem_filters: int. Slow stem width. Fast widths are the Slow widths
            ``// beta_inv`` (floor division, as PySlowFast, so beta = 1/6 works).
        stem_temporal_kernel_sizes: dict with ``slow`` and ``fast`` ints.
        temporal_kernel_sizes: dict with ``slow`` and ``fast`` entries, each an
            int, or 4 per-stage ints or per-block lists: conv a temporal kernels.
        fusion: str. Lateral connection: ``"tconv"``, ``"tsample"``,
            ``"ttoc_sum"`` or ``"ttoc_concat"``.
        fusion_kernel_size: int or None. Temporal kernel of the T-conv fusion;
            None picks the reference models' value (7 for the 8x8 R50 without
            non-local blocks, else 5).
        fusion_channel_ratio: int. T-conv output / Fast channels.
        nonlocal_blocks: list of 4 lists of block indices (Slow pathway) followed
            by a non-local block, or None.
        nonlocal_affinity: str. ``"dot_product"`` or ``"softmax"``.
        nonlocal_pool_size: list of 3 ints or None. Non-local pooling.
        fast_input: str. ``"rgb"``, ``"gray"`` or ``"diff"``.
        spatial_strides: list of 4 ints. Spatial stride of res2..res5.
        spatial_dilations: list of 4 ints. Spatial dilation of res2..res5.
        image_size: list of 2 ints or None. Fixed input height and width, or
            None to accept any size.
        **kwargs: ``name``, ``dtype`` (a policy such as ``"mixed_bfloat16"``,
            given to every layer) and ``trainable``.

    Examples:
    >>> backbone = SlowFastBackbone(stage_depths=[1, 1, 1, 1], alpha=4,
    ...                             num_frames=8)
    >>> slow, fast = backbone(keras.ops.zeros((1, 8, 64, 64, 3)))
    >>> tuple(slow.shape), tuple(fast.shape)
    ((1, 2, 2, 2, 2048), (1, 8, 2, 2, 256))
    """

    def __init__(
        self,
        *,
        stage_depths=(3, 4, 6, 3),
        pathways="slowfast",
        alpha=8,
        beta_inv=8,
        beta=None,
        num_frames=32,
        stem_filters=64,
        stem_temporal_kernel_sizes=None,
        temporal_kernel_sizes=None,
        fusion="tconv",
        fusion_kernel_size=None,
        fusion_channel_ratio=2,
        nonlocal_blocks=None,
        nonlocal_affinity="dot_product",
        nonlocal_pool_size=(1, 2, 2),
        fast_input="rgb",
        spatial_strides=(1, 2, 2, 2),
        spatial_dilations=(1, 1, 1, 1),
        image_size=None,
        **kwargs,
    ):
        check_model_keywords(kwargs, "SlowFastBackbone")
        stage_depths = _positive_ints(stage_depths, "stage_depths")
        check_choice(pathways, PATHWAYS, "pathways")
        check_choice(fusion, FUSION_MODES, "fusion")
        check_choice(fast_input, FAST_INPUTS, "fast_input")
        if beta is not None:
            beta_inv = beta_to_inverse(beta)
        alpha, beta_inv, num_frames = int(alpha), int(beta_inv), int(num_frames)
        if beta_inv < 1:
            raise ValueError(f"beta_inv={beta_inv} must be a positive integer")
        if pathways != "fast":
            check_frames(num_frames, alpha)
        names = [p for p in ("slow", "fast") if pathways in ("slowfast", p)]
        stem_kernels = {
            **DEFAULT_STEM_TEMPORAL_KERNELS,
            **(stem_temporal_kernel_sizes or {}),
        }
        kernels = {**DEFAULT_TEMPORAL_KERNELS, **(temporal_kernel_sizes or {})}
        kernels = {
            p: _expand_per_block(
                kernels[p], stage_depths, f"temporal_kernel_sizes[{p!r}]"
            )
            for p in ("slow", "fast")
        }
        if nonlocal_blocks is None:
            nonlocal_blocks = [[], [], [], []]
        nonlocal_blocks = [sorted(int(i) for i in stage) for stage in nonlocal_blocks]
        if len(nonlocal_blocks) != 4:
            raise ValueError(f"nonlocal_blocks={nonlocal_blocks} must list 4 stages")
        if fusion_kernel_size is None:
            fusion_kernel_size = reference_fusion_kernel_size(
                stage_depths, alpha, nonlocal_blocks
            )
        spatial_strides = _positive_ints(spatial_strides, "spatial_strides")
        spatial_dilations = _positive_ints(spatial_dilations, "spatial_dilations")
        if image_size is not None:
            image_size = _positive_ints(image_size, "image_size", count=2)
        spatial = (None, None) if image_size is None else tuple(image_size)

        # Every layer gets the backbone's dtype policy (e.g. "mixed_bfloat16"),
        # not the global one; None keeps the global policy.
        dtype = kwargs.get("dtype")

        # --- graph ---
        clip = keras.Input(shape=(num_frames, *spatial, 3), name="video")
        width = {"slow": 1, "fast": beta_inv}
        if pathways == "slowfast":
            slow, fast = PackPathways(
                alpha, fast_input=fast_input, name="pack", dtype=dtype
            )(clip)
            x = {"slow": slow, "fast": fast}
        elif pathways == "slow":
            x = {
                "slow": PackPathways(alpha, name="pack", dtype=dtype)(clip)[0]
                if alpha > 1
                else clip
            }
        else:
            packer = PackPathways(1, fast_input=fast_input, name="pack", dtype=dtype)
            x = {"fast": packer(clip)[1]}

        for p in names:
            x[p] = PathwayStem(
                stem_filters // width[p],
                temporal_kernel_size=stem_kernels[p],
                name=f"{p}_stem",
                dtype=dtype,
            )(x[p])
        for stage in range(4):
            if pathways == "slowfast":
                x["slow"], x["fast"] = LateralFusion(
                    alpha,
                    mode=fusion,
                    kernel_size=fusion_kernel_size,
                    channel_ratio=fusion_channel_ratio,
                    name=FUSION_NAMES[stage],
                    dtype=dtype,
                )([x["slow"], x["fast"]])
            out_filters = 256 * 2**stage
            for p in names:
                x[p] = ResStage(
                    out_filters // width[p],
                    out_filters // 4 // width[p],
                    temporal_kernel_sizes=kernels[p][stage],
                    spatial_stride=spatial_strides[stage],
                    dilation=spatial_dilations[stage],
                    nonlocal_blocks=nonlocal_blocks[stage] if p == "slow" else (),
                    nonlocal_affinity=nonlocal_affinity,
                    nonlocal_pool_size=nonlocal_pool_size,
                    name=f"{p}_{STAGE_NAMES[stage]}",
                    dtype=dtype,
                )(x[p])
        super().__init__(inputs=clip, outputs=[x[p] for p in names], **kwargs)

        # The policy every layer got; a functional Model drops its ``dtype``
        # argument, so the model's own policy is set here.
        self.dtype_argument = (
            None if dtype is None else keras.dtype_policies.get(dtype).name
        )
        if dtype is not None:
            self.dtype_policy = dtype
        # --- config ---
        self.stage_depths = stage_depths
        self.pathways = pathways
        self.pathway_names = names
        self.alpha = alpha
        self.beta_inv = beta_inv
        self.num_frames = num_frames
        self.stem_filters = int(stem_filters)
        self.stem_temporal_kernel_sizes = {p: int(k) for p, k in stem_kernels.items()}
        self.temporal_kernel_sizes = kernels
        self.fusion = fusion
        self.fusion_kernel_size = int(fusion_kernel_size)
        self.fusion_channel_ratio = int(fusion_channel_ratio)
        self.nonlocal_blocks = nonlocal_blocks
        self.nonlocal_affinity = nonlocal_affinity
        self.nonlocal_pool_size = (
            None if nonlocal_pool_size is None else [int(s) for s in nonlocal_pool_size]
        )
        self.fast_input = fast_input
        self.spatial_strides = spatial_strides
        self.spatial_dilations = spatial_dilations
        self.image_size = image_size

    @property
    def feature_channels(self):
        """Channels of each output map, ``{"slow": c, "fast": c}``."""
        return {
            p: int(output.shape[-1])
            for p, output in zip(self.pathway_names, self.outputs, strict=True)
        }

    @property
    def feature_stride(self):
        """Input pixels per cell of the output maps (4 for the stem x strides)."""
        stride = 4
        for s in self.spatial_strides:
            stride *= s
        return stride

    def __call__(self, inputs, *args, **kwargs):
        check_video_input(inputs, self.num_frames, self.image_size)
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_argument,
            "stage_depths": self.stage_depths,
            "pathways": self.pathways,
            "alpha": self.alpha,
            "beta_inv": self.beta_inv,
            "num_frames": self.num_frames,
            "stem_filters": self.stem_filters,
            "stem_temporal_kernel_sizes": self.stem_temporal_kernel_sizes,
            "temporal_kernel_sizes": self.temporal_kernel_sizes,
            "fusion": self.fusion,
            "fusion_kernel_size": self.fusion_kernel_size,
            "fusion_channel_ratio": self.fusion_channel_ratio,
            "nonlocal_blocks": self.nonlocal_blocks,
            "nonlocal_affinity": self.nonlocal_affinity,
            "nonlocal_pool_size": self.nonlocal_pool_size,
            "fast_input": self.fast_input,
            "spatial_strides": self.spatial_strides,
            "spatial_dilations": self.spatial_dilations,
            "image_size": self.image_size,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # keras-hub style: ``SlowFastBackbone.presets`` and ``from_preset``.
    presets = PRESET_DESCRIPTIONS

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Builds a named preset (see ``SlowFastBackbone.presets``).

        A weighted preset (``keras_slowfast.zoo_names()``) gives the
        pretrained backbone of that published model (downloaded and converted
        on first use, then cached).

        Args:
            preset: str. A preset name such as ``"slowfast_8x8_r50"`` or
                ``"slowfast_8x8_r50_kinetics400"``.
            **overrides: backbone arguments replacing the preset's values (not
                for a weighted preset).
        """
        from keras_slowfast.models.zoo import is_zoo_name

        if is_zoo_name(preset):
            if overrides:
                raise ValueError(
                    f"weighted preset {preset!r} takes no overrides, got "
                    f"{sorted(overrides)}"
                )
            from keras_slowfast.models.pretrained import load_pretrained

            return load_pretrained(preset).backbone
        return cls(**{**preset_config(preset), **overrides})


def backbone_argument_names():
    """The constructor arguments of :class:`SlowFastBackbone` (plus ``beta``)."""
    parameters = inspect.signature(SlowFastBackbone.__init__).parameters
    return {n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY}


def split_arguments(arguments):
    """Splits keyword arguments into ``(backbone_arguments, task_arguments)``.

    ``dtype`` goes to the backbone (every layer gets it; the task's head
    follows the backbone); everything not a backbone argument goes to the task.
    """
    names = backbone_argument_names() | {"dtype"}
    backbone = {k: v for k, v in arguments.items() if k in names}
    task = {k: v for k, v in arguments.items() if k not in names}
    return backbone, task


def check_video_input(inputs, num_frames, image_size=None):
    """Raises a ValueError when a clip is not ``(batch, num_frames, H, W, 3)``.

    Only static shapes are checked; a dynamic dimension passes.
    """
    shape = getattr(inputs, "shape", None)
    if shape is None:
        return
    shape = tuple(shape)
    expected = f"(batch, {num_frames}, height, width, 3)"
    if len(shape) != 5:
        raise ValueError(
            f"Expected a video tensor of rank 5 {expected}, got shape {shape}"
        )
    if shape[-1] is not None and shape[-1] != 3:
        raise ValueError(
            f"Expected 3 channels (RGB) in the last axis {expected}, got shape {shape}"
        )
    if shape[1] is not None and shape[1] != num_frames:
        raise ValueError(
            f"Expected {num_frames} frames in axis 1 {expected}, got shape {shape}"
        )
    if image_size is not None and None not in shape[2:4]:
        if list(shape[2:4]) != list(image_size):
            raise ValueError(
                f"Expected height, width = {image_size} (the model's image_size), "
                f"got shape {shape}"
            )
