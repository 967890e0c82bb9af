"""SlowFastNet: the SlowFast network (and its Slow-only / Fast-only ablations)."""

import keras

from keras_slowfast.layers.fusion import FUSION_MODES, LateralFusion
from keras_slowfast.layers.heads import ClassificationHead
from keras_slowfast.layers.pack_pathways import FAST_INPUTS, PackPathways, check_frames
from keras_slowfast.layers.res_stage import ResStage
from keras_slowfast.layers.stem import PathwayStem
from keras_slowfast.layers.utils import check_choice, register

PATHWAYS = ("slowfast", "slow", "fast")
STAGE_NAMES = ("res2", "res3", "res4", "res5")
# Bottleneck ResNet depths -> blocks per stage (REFERENCE "Architecture").
DEPTHS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
# Temporal kernel of conv a per stage (res2..res5) and of the stem.
DEFAULT_TEMPORAL_KERNELS = {"slow": [1, 1, 3, 3], "fast": [3, 3, 3, 3]}
DEFAULT_STEM_TEMPORAL_KERNELS = {"slow": 1, "fast": 5}
# Input convention of the PyTorchVideo / PySlowFast Kinetics models: RGB in [0, 1],
# normalized with mean 0.45 and std 0.225.
DEFAULT_INPUT_CONVENTION = {
    "mean": [0.45, 0.45, 0.45],
    "std": [0.225, 0.225, 0.225],
    "channel_order": "rgb",
}


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


def _check_input_convention(convention):
    convention = {**DEFAULT_INPUT_CONVENTION, **(convention or {})}
    for key in ("mean", "std"):
        if len(convention[key]) != 3:
            raise ValueError(
                f"input_convention[{key!r}]={convention[key]!r} must have 3 values"
            )
    convention["mean"] = [float(v) for v in convention["mean"]]
    convention["std"] = [float(v) for v in convention["std"]]
    check_choice(convention["channel_order"], ("rgb", "bgr"), "channel_order")
    return convention


@register
class SlowFastNet(keras.Model):
    """The SlowFast network as a functional Keras model.

    The model takes one clip ``(batch, num_frames, height, width, 3)``, channels
    last, already normalized (see ``input_convention``), and packs the pathways
    itself: the Fast pathway sees all ``num_frames`` frames with ``1 / beta_inv``
    of the channels, the Slow pathway ``num_frames // alpha`` frames. Lateral
    connections fuse Fast into Slow after the stem and after res2, res3 and res4.
    With ``include_top=True`` it returns class logits (or probabilities, see
    ``head_activation``); otherwise pooled features of size ``2048 + 2048 //
    beta_inv`` for R50/R101, or, with ``pooling=None``, the final feature maps
    ``[slow, fast]``.

    Every constructor argument is a JSON-friendly architecture value, so
    ``SlowFastNet.from_config(model.get_config())`` rebuilds the same network.
    Use the factories (``SlowFastR50``, ``SlowFast``...) for the reference
    configurations.

    Args:
        stage_depths: list of 4 ints. Bottleneck blocks in res2..res5.
        pathways: str. ``"slowfast"``, or ``"slow"`` / ``"fast"`` for the
            single-pathway ablations.
        alpha: int. Fast/Slow frame-rate ratio. A Slow-only model with
            ``alpha > 1`` samples its frames from the clip like SlowFast does.
        beta_inv: int. Slow/Fast channel ratio (beta = 1 / beta_inv).
        num_frames: int. Frames in the input clip.
        stem_filters: int. Slow stem width. Fast widths are the Slow widths
            ``// beta_inv`` (floor division, as PySlowFast, so beta = 1/6 works).
        stem_temporal_kernel_sizes: dict with ``slow`` and ``fast`` ints.
        temporal_kernel_sizes: dict with ``slow`` and ``fast`` entries, each an
            int, or 4 per-stage ints or per-block lists: conv a temporal kernels.
        fusion: str. Lateral connection: ``"tconv"``, ``"tsample"``,
            ``"ttoc_sum"`` or ``"ttoc_concat"``.
        fusion_kernel_size: int. Temporal kernel of the T-conv fusion.
        fusion_channel_ratio: int. T-conv output / Fast channels.
        nonlocal_blocks: list of 4 lists of block indices (Slow pathway) followed
            by a non-local block, or None.
        nonlocal_affinity: str. ``"dot_product"`` or ``"softmax"``.
        nonlocal_pool_size: list of 3 ints or None. Non-local pooling.
        fast_input: str. ``"rgb"``, ``"gray"`` or ``"diff"``.
        spatial_strides: list of 4 ints. Spatial stride of res2..res5.
        spatial_dilations: list of 4 ints. Spatial dilation of res2..res5.
        num_classes: int. Classes of the head.
        include_top: bool. Whether to add the classification head.
        pooling: ``"avg"`` or None. Output when ``include_top=False``.
        dropout_rate: float. Head dropout.
        head_activation: None, ``"softmax"`` or ``"sigmoid"``.
        head_spatial_pool_size: list of 2 ints or None. Fully convolutional
            test-time pooling window of the head.
        image_size: list of 2 ints or None. Fixed input height and width, or
            None to accept any size.
        input_convention: dict with ``mean``, ``std`` (per channel, for RGB in
            [0, 1]) and ``channel_order`` (``"rgb"`` or ``"bgr"``). Recorded for
            the data pipeline and the export; the model itself does not apply it.
        **kwargs: ``name``, ``dtype`` and other Model arguments.
    """

    def __init__(
        self,
        *,
        stage_depths=(3, 4, 6, 3),
        pathways="slowfast",
        alpha=4,
        beta_inv=8,
        num_frames=32,
        stem_filters=64,
        stem_temporal_kernel_sizes=None,
        temporal_kernel_sizes=None,
        fusion="tconv",
        fusion_kernel_size=7,
        fusion_channel_ratio=2,
        nonlocal_blocks=None,
        nonlocal_affinity="dot_product",
        nonlocal_pool_size=(1, 2, 2),
        fast_input="rgb",
        spatial_strides=(1, 2, 2, 2),
        spatial_dilations=(1, 1, 1, 1),
        num_classes=400,
        include_top=True,
        pooling="avg",
        dropout_rate=0.5,
        head_activation=None,
        head_spatial_pool_size=None,
        image_size=None,
        input_convention=None,
        **kwargs,
    ):
        stage_depths = [int(d) for d in stage_depths]
        if len(stage_depths) != 4 or min(stage_depths) < 1:
            raise ValueError(f"stage_depths={stage_depths} must be 4 positive ints")
        check_choice(pathways, PATHWAYS, "pathways")
        check_choice(fusion, FUSION_MODES, "fusion")
        check_choice(fast_input, FAST_INPUTS, "fast_input")
        check_choice(pooling, ("avg", None), "pooling")
        alpha, beta_inv, num_frames = int(alpha), int(beta_inv), int(num_frames)
        if beta_inv < 1:
            raise ValueError(f"beta_inv={beta_inv} must be a positive integer")
        if pathways != "fast":
            check_frames(num_frames, alpha)
        named = {"slow": pathways in ("slowfast", "slow"), "fast": pathways != "slow"}
        names = [p for p in ("slow", "fast") if named[p]]
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
        spatial_strides = [int(s) for s in spatial_strides]
        spatial_dilations = [int(d) for d in spatial_dilations]
        for arg, values in (
            ("spatial_strides", spatial_strides),
            ("spatial_dilations", spatial_dilations),
        ):
            if len(values) != 4 or min(values) < 1:
                raise ValueError(f"{arg}={values} must be 4 positive ints")
        if image_size is not None:
            image_size = [int(s) for s in image_size]
        input_convention = _check_input_convention(input_convention)
        input_channels = 3
        if image_size is None:
            spatial = (None, None)
        else:
            spatial = tuple(image_size)

        # Every layer gets the model's dtype policy (e.g. "mixed_bfloat16"),
        # not the global one; None keeps the global policy.
        dtype = kwargs.get("dtype")

        # --- graph ---
        clip = keras.Input(shape=(num_frames, *spatial, input_channels), name="video")
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
        fuse_names = ("fuse_stem", "fuse_res2", "fuse_res3", "fuse_res4")
        for stage in range(4):
            if pathways == "slowfast":
                x["slow"], x["fast"] = LateralFusion(
                    alpha,
                    mode=fusion,
                    kernel_size=fusion_kernel_size,
                    channel_ratio=fusion_channel_ratio,
                    name=fuse_names[stage],
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
        features = [x[p] for p in names]
        if include_top:
            outputs = ClassificationHead(
                num_classes,
                dropout_rate=dropout_rate,
                activation=head_activation,
                spatial_pool_size=head_spatial_pool_size,
                name="head",
                dtype=dtype,
            )(features)
        elif pooling == "avg":
            outputs = ClassificationHead(None, name="pool", dtype=dtype)(features)
        else:
            outputs = features
        super().__init__(inputs=clip, outputs=outputs, **kwargs)

        # The policy every layer got (a functional Model keeps none itself).
        self.dtype_argument = (
            None if dtype is None else keras.dtype_policies.get(dtype).name
        )
        # --- config ---
        self.stage_depths = stage_depths
        self.pathways = pathways
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
        self.num_classes = int(num_classes) if num_classes is not None else None
        self.include_top = bool(include_top)
        self.pooling = pooling
        self.dropout_rate = float(dropout_rate)
        self.head_activation = head_activation
        self.head_spatial_pool_size = (
            None
            if head_spatial_pool_size is None
            else [int(s) for s in head_spatial_pool_size]
        )
        self.image_size = image_size
        self.input_convention = input_convention

    @property
    def feature_channels(self):
        """Channels of the pooled features (the head's input width)."""
        slow = 2048 if self.pathways != "fast" else 0
        fast = 2048 // self.beta_inv if self.pathways != "slow" else 0
        return slow + fast

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
            "num_classes": self.num_classes,
            "include_top": self.include_top,
            "pooling": self.pooling,
            "dropout_rate": self.dropout_rate,
            "head_activation": self.head_activation,
            "head_spatial_pool_size": self.head_spatial_pool_size,
            "image_size": self.image_size,
            "input_convention": self.input_convention,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


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
