"""Checkpoint -> Keras: architecture inference, key mapping, loading."""

import re

from keras_slowfast.convert import pyslowfast, pytorchvideo
from keras_slowfast.convert.common import (
    extract_state_dict,
    is_ignored,
    load_checkpoint,
    logger,
)

SOURCES = ("auto", "pytorchvideo", "pyslowfast")
_MAPPERS = {"pytorchvideo": pytorchvideo, "pyslowfast": pyslowfast}
_BLOCK = re.compile(r"(slow|fast)_res(\d)/block(\d+)/conv_a/conv/kernel")
_NONLOCAL = re.compile(r"slow_res(\d)/nonlocal(\d+)/theta/kernel")
# Values the checkpoint cannot show, when neither a preset nor the caller sets
# them: the paper's 8x8 Kinetics setting (T x tau = 8 x 8, alpha 4: 32 frames in).
_DEFAULTS = {
    "slowfast": {"alpha": 4, "num_frames": 32},
    "slow": {"alpha": 1, "num_frames": 8},
}


def detect_source(keys):
    """Guesses a state dict's naming scheme: ``"pytorchvideo"`` or ``"pyslowfast"``.

    Raises:
        ValueError: when the keys follow neither scheme.
    """
    keys = list(keys)
    counts = {name: mapper.matches(keys) for name, mapper in _MAPPERS.items()}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        raise ValueError(
            "cannot tell the checkpoint's naming scheme: its keys (e.g. "
            f"{keys[:3]}) follow neither PyTorchVideo ('blocks.N...') nor "
            "PySlowFast ('s1.pathway0_stem...'); pass source= explicitly"
        )
    return best


def map_state_dict(state_dict, source="auto"):
    """Maps every checkpoint key onto a Keras target path.

    Args:
        state_dict: dict of str -> array. A torch state dict (tensors or arrays).
        source: str. ``"pytorchvideo"``, ``"pyslowfast"`` or ``"auto"``.

    Returns:
        ``(arrays_by_target, keys_by_target)``: float32 arrays in the torch
        layout and the checkpoint key each came from.

    Raises:
        ValueError: listing every key that no rule maps (unknown keys), or two
            keys that map onto the same target.
    """
    if source not in SOURCES:
        raise ValueError(
            f"source={source!r} is not supported; expected one of {SOURCES}"
        )
    state_dict = extract_state_dict(state_dict)
    if source == "auto":
        source = detect_source(state_dict)
    mapper = _MAPPERS[source]
    arrays, keys, unknown = {}, {}, []
    for key, value in state_dict.items():
        if is_ignored(key):
            continue
        target = mapper.map_key(key)
        if target is None:
            unknown.append(f"{key} {tuple(value.shape)}")
            continue
        if target in keys:
            raise ValueError(
                f"checkpoint keys {keys[target]} and {key} both map onto {target}"
            )
        arrays[target], keys[target] = value, key
    if unknown:
        raise ValueError(
            f"{len(unknown)} checkpoint keys have no {source} naming rule "
            "(unknown keys):\n  " + "\n  ".join(unknown)
        )
    return arrays, keys


def infer_config(arrays_by_target):
    """Reads the architecture visible in a checkpoint's weight shapes.

    Visible: pathways, stage depths, stem widths (hence ``beta_inv``),
    temporal kernels of the stems and of every block's conv a, the T-conv
    fusion kernel and channel ratio, non-local positions and ``num_classes``.
    Not visible: ``alpha`` (the fusion conv's temporal stride), ``num_frames``,
    strides and dilations; those come from a preset or the caller.

    Args:
        arrays_by_target: dict target -> array (torch layout), as returned by
            ``map_state_dict``.

    Returns:
        dict of ``SlowFastBackbone`` arguments, plus ``num_classes`` when
        the checkpoint has a classifier.
    """
    shapes = {target: tuple(array.shape) for target, array in arrays_by_target.items()}
    stems = {
        p: shapes[f"{p}_stem/conv/conv/kernel"]
        for p in ("slow", "fast")
        if f"{p}_stem/conv/conv/kernel" in shapes
    }
    if "slow" not in stems:
        raise ValueError(
            "checkpoint has no Slow-pathway stem convolution; cannot infer the "
            "architecture (Fast-only checkpoints are not supported)"
        )
    pathways = "slowfast" if "fast" in stems else "slow"
    config = {"pathways": pathways, "stem_filters": stems["slow"][0]}
    config["stem_temporal_kernel_sizes"] = {p: shape[2] for p, shape in stems.items()}
    if pathways == "slowfast":
        if stems["slow"][0] % stems["fast"][0]:
            raise ValueError(
                f"stem widths slow {stems['slow'][0]} / fast {stems['fast'][0]} "
                "are not an integer ratio"
            )
        config["beta_inv"] = stems["slow"][0] // stems["fast"][0]
    kernels = {p: [{}, {}, {}, {}] for p in stems}
    nonlocal_blocks = [[], [], [], []]
    for target, shape in shapes.items():
        match = _BLOCK.fullmatch(target)
        if match:
            pathway, stage, block = (
                match.group(1),
                int(match.group(2)),
                int(match.group(3)),
            )
            kernels[pathway][stage - 2][block] = shape[2]
        match = _NONLOCAL.fullmatch(target)
        if match:
            nonlocal_blocks[int(match.group(1)) - 2].append(int(match.group(2)))
    depths = []
    for stage, blocks in enumerate(kernels["slow"]):
        if sorted(blocks) != list(range(len(blocks))) or not blocks:
            raise ValueError(
                f"checkpoint's Slow res{stage + 2} has blocks {sorted(blocks)}; "
                "expected 0..n-1"
            )
        depths.append(len(blocks))
    config["stage_depths"] = depths
    config["temporal_kernel_sizes"] = {
        p: [[stage[i] for i in sorted(stage)] for stage in per_stage]
        for p, per_stage in kernels.items()
    }
    if pathways == "slow":
        # The backbone requires both entries; the Fast one is unused.
        config["temporal_kernel_sizes"]["fast"] = [[3] * d for d in depths]
    config["nonlocal_blocks"] = [sorted(stage) for stage in nonlocal_blocks]
    fusion = shapes.get("fuse_stem/conv/conv/kernel")
    if fusion is not None:
        config["fusion"] = "tconv"
        config["fusion_kernel_size"] = fusion[2]
        config["fusion_channel_ratio"] = fusion[0] // fusion[1]
    head = shapes.get("head/proj/kernel")
    if head is not None:
        config["num_classes"] = head[0]
    return config


def checkpoint_settings(checkpoint):
    """Settings recorded in a PySlowFast checkpoint's ``cfg`` entry.

    PySlowFast stores its config as YAML text under ``cfg``; from it this reads
    ``SLOWFAST.ALPHA``, ``DATA.NUM_FRAMES``, ``DATA.MEAN`` / ``DATA.STD``,
    ``DATA.REVERSE_INPUT_CHANNEL`` (BGR input) and ``NONLOCAL.INSTANTIATION``
    (the non-local affinity, which the weights cannot show). Checkpoints
    without a readable ``cfg`` give an empty dict.

    Returns:
        dict with any of ``alpha``, ``num_frames``, ``nonlocal_affinity``,
        ``input_convention``.
    """
    cfg = checkpoint.get("cfg") if isinstance(checkpoint, dict) else None
    if isinstance(cfg, str):
        try:
            import yaml

            cfg = yaml.safe_load(cfg)
        except Exception as error:  # a cfg we cannot read is only a hint
            logger.warning("ignoring the checkpoint's unreadable cfg (%s)", error)
            return {}
    if not isinstance(cfg, dict):
        return {}
    slowfast = cfg.get("SLOWFAST") or {}
    data = cfg.get("DATA") or {}
    settings, convention = {}, {}
    if isinstance(slowfast.get("ALPHA"), int):
        settings["alpha"] = slowfast["ALPHA"]
    instantiation = (cfg.get("NONLOCAL") or {}).get("INSTANTIATION")
    if instantiation in ("dot_product", "softmax"):
        settings["nonlocal_affinity"] = instantiation
    if isinstance(data.get("NUM_FRAMES"), int):
        settings["num_frames"] = data["NUM_FRAMES"]
    for key, name in (("MEAN", "mean"), ("STD", "std")):
        values = data.get(key)
        if isinstance(values, (list, tuple)) and len(values) == 3:
            convention[name] = [float(v) for v in values]
    if data.get("REVERSE_INPUT_CHANNEL") is True:
        convention["channel_order"] = "bgr"
    if convention:
        settings["input_convention"] = convention
    if settings:
        logger.info("settings from the checkpoint's cfg: %s", settings)
    return settings


# Architecture values a preset and the checkpoint must agree on.
_CHECKED = (
    "stage_depths",
    "beta_inv",
    "fusion_kernel_size",
    "nonlocal_blocks",
    "pathways",
)


def _merge_config(inferred, preset, settings=None):
    """defaults < preset < checkpoint cfg settings < shapes (checked vs preset)."""
    config = dict(_DEFAULTS[inferred["pathways"]])
    if preset is not None:
        from keras_slowfast.models.presets import preset_config

        preset_values = preset_config(preset)
        preset_values.setdefault("pathways", "slowfast")
        for key in _CHECKED:
            if key in preset_values and key in inferred:
                expected = preset_values[key]
                if key == "nonlocal_blocks" and expected is None:
                    expected = [[], [], [], []]
                if expected != inferred[key]:
                    raise ValueError(
                        f"preset {preset!r} has {key}={expected!r} but the checkpoint "
                        f"has {key}={inferred[key]!r}; pick a matching preset or none"
                    )
        config.update(preset_values)
    settings = dict(settings or {})
    if inferred["pathways"] != "slowfast":
        # A Slow-only model reads its frames directly; SLOWFAST.ALPHA is unused.
        settings.pop("alpha", None)
    config.update(settings)
    config.update(inferred)
    return config


def load_state_dict(model, state_dict, source="auto", progress=True):
    """Loads a PyTorchVideo or PySlowFast state dict into an existing model.

    Keys are mapped by rule onto the model's layer names (``slow_stem``,
    ``fast_res5``, ``fuse_res4``, ``head``...), so any model built from the
    keras_slowfast layers with these names loads the same way. Every model
    weight must receive a value and every checkpoint entry must be used.

    Args:
        model: a Keras model with the SlowFast layer names.
        state_dict: dict of tensors or arrays, or a checkpoint dict holding it
            under ``model_state``.
        source: str. ``"pytorchvideo"``, ``"pyslowfast"`` or ``"auto"``.
        progress: bool. Show a progress bar over the weights.

    Returns:
        The number of weights assigned.

    Raises:
        ValueError: for unknown, missing or unexpected keys and shape
            mismatches, each named with both shapes.
    """
    from keras_slowfast.convert.common import assign_weights

    arrays, keys = map_state_dict(state_dict, source)
    return assign_weights(model, arrays, keys, progress=progress)


def convert_checkpoint(
    checkpoint,
    source="auto",
    preset=None,
    num_classes=None,
    trust_checkpoint=False,
    progress=True,
    **overrides,
):
    """Builds a SlowFast model from a PyTorchVideo or PySlowFast checkpoint.

    The architecture is read from the checkpoint's weight shapes where they
    show it (see ``infer_config``); ``alpha`` and ``num_frames`` come from
    ``preset`` or ``overrides`` and otherwise default to the 8x8 setting
    (alpha 4, 32 frames; 8 frames for a Slow-only checkpoint). Pass
    ``alpha=8`` (or ``preset="slowfast_4x16_r50"``) for a 4x16 checkpoint.
    A PySlowFast checkpoint's own ``cfg`` entry, when present, supplies
    ``alpha``, ``num_frames`` and the input convention (see
    ``checkpoint_settings``). The model's :class:`VideoPreprocessor` records
    the source's input convention (default: RGB in [0, 1], mean 0.45, std
    0.225); override it with ``input_convention=`` (PySlowFast Charades
    configs use ``channel_order="bgr"``) or ``preprocessor=``.

    Args:
        checkpoint: str, path or dict. A ``.pyth`` / ``.pt`` / ``.pkl`` file
            (torch zip or legacy, or Caffe2; read without torch), an http(s)
            URL of one (downloaded once into the cache), or a loaded
            checkpoint / state dict.
        source: str. ``"pytorchvideo"``, ``"pyslowfast"`` or ``"auto"``
            (guessed from the key names).
        preset: str or None. A preset name (``keras_slowfast.preset_names()``)
            giving the values the checkpoint does not show; checked against
            the ones it does.
        num_classes: int or None. None takes the checkpoint's classes. A
            different number drops the checkpoint's classifier and starts a new
            one (for fine-tuning); this is logged as a warning.
        trust_checkpoint: bool. Let torch fully unpickle a file that names
            objects the safe reader refuses (runs code from the file: only for
            files you trust; no zoo file needs it).
        progress: bool. Show a progress bar over the weights.
        **overrides: Any other :class:`SlowFastBackbone` argument (``alpha``,
            ``num_frames``, ``image_size``, ``spatial_strides``...) or
            :class:`SlowFastVideoClassifier` argument (``activation``,
            ``preprocessor``, ``name``...), and ``input_convention``.

    Returns:
        A :class:`SlowFastVideoClassifier` with every weight loaded, or the
        :class:`SlowFastBackbone` alone for a checkpoint without a classifier
        when ``num_classes`` is None.

    Raises:
        ValueError: for unreadable or unsafe files, unknown / missing /
            unexpected keys, shape mismatches, or a preset that disagrees with
            the checkpoint.

    Examples:
    >>> model = convert_checkpoint("SLOWFAST_8x8_R50.pyth",
    ...                            source="pytorchvideo")  # doctest: +SKIP
    """
    from keras_slowfast.convert.common import assign_weights
    from keras_slowfast.models.backbone import SlowFastBackbone, split_arguments
    from keras_slowfast.models.classifier import SlowFastVideoClassifier
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    if isinstance(checkpoint, str) and checkpoint.startswith(("http://", "https://")):
        from keras_slowfast.models.pretrained import download_checkpoint

        checkpoint = download_checkpoint(checkpoint)
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint(checkpoint, trust_checkpoint=trust_checkpoint)
    arrays, keys = map_state_dict(checkpoint, source)
    config = _merge_config(
        infer_config(arrays), preset, checkpoint_settings(checkpoint)
    )
    head_keys = [keys[t] for t in ("head/proj/kernel", "head/proj/bias") if t in keys]
    checkpoint_classes = config.pop("num_classes", None)
    classes = checkpoint_classes if num_classes is None else int(num_classes)
    drop_head = bool(head_keys) and classes != checkpoint_classes
    config.update(overrides)
    convention = config.pop("input_convention", None)
    if "preprocessor" not in config:
        config["preprocessor"] = VideoPreprocessor.from_convention(convention)
    if drop_head:
        logger.warning(
            "not loading the checkpoint's classifier %s (shape %s): the model has "
            "num_classes=%s; the new head keeps its initial values",
            head_keys,
            tuple(arrays["head/proj/kernel"].shape),
            classes,
        )
        for target in ("head/proj/kernel", "head/proj/bias"):
            arrays.pop(target, None)
    backbone_args, task_args = split_arguments(config)
    backbone = SlowFastBackbone(**backbone_args)
    if classes is None:
        model = backbone
    else:
        model = SlowFastVideoClassifier(backbone, classes, **task_args)
    # A head the checkpoint does not fill (dropped, or none in it) starts new.
    new_head = drop_head or (classes is not None and not head_keys)
    skip = {"head/proj/kernel", "head/proj/bias"} if new_head else set()
    assign_weights(model, arrays, keys, progress=progress, skip=skip)
    return model
