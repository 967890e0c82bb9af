"""What every SlowFast task model shares: its backbone and its preprocessor."""

import logging

import keras

from keras_slowfast.models.backbone import SlowFastBackbone, split_arguments

LEGACY_MESSAGE = (
    "written by keras_slowfast 0.1 (class SlowFastNet, or a SlowFastDetector "
    "without a separate backbone); load it with keras_slowfast.load_model(path), "
    "which converts it, then save it again with model.save(path)"
)


logger = logging.getLogger("keras_slowfast")

SCORE_ACTIVATIONS = ("auto", "softmax", "sigmoid", "none")
# Reading a video when neither the caller nor the model says otherwise: the
# Kinetics 8x8 setting (PySlowFast DATA.SAMPLING_RATE 2, short side 256).
DEFAULT_SAMPLING_RATE = 2
DEFAULT_SHORT_SIDE = 256
DEFAULT_CROP_SIZE = 224


def is_detection_model(model):
    """True for a model whose inputs are ``(video, boxes)``."""
    return len(model.inputs) == 2


def score_activation(model, requested="auto", multi_label=False, argument="activation"):
    """What turns a model's outputs into scores: ``"softmax"``, ``"sigmoid"`` or
    ``"none"`` (the one rule prediction, evaluation, explain and export follow).

    Args:
        model: a task model (its ``activation`` is the head's own).
        requested: ``"auto"`` or one of the three. ``"auto"`` gives ``"none"``
            when the head already applies an activation, ``"sigmoid"`` for a
            detector or multi-label scores, else ``"softmax"``.
        multi_label: bool. Classes are independent (Charades-style).
        argument: str. The caller's name for ``requested``, for the error.

    Raises:
        ValueError: an unknown ``requested`` value.
    """
    if requested not in SCORE_ACTIVATIONS:
        raise ValueError(f"{argument}={requested!r} must be one of {SCORE_ACTIVATIONS}")
    if requested != "auto":
        return requested
    if getattr(model, "activation", None) is not None:
        return "none"  # the head already returns probabilities
    return "sigmoid" if multi_label or is_detection_model(model) else "softmax"


def input_settings(model, sampling_rate=None, short_side=None, crop_size=None):
    """How to read a video for ``model``: ``(sampling_rate, short_side, crop_size)``.

    Each argument left None takes the value the model was trained or
    published with (its preprocessor's ``sampling_rate``, ``short_side`` and
    ``crop_size``), else the model's fixed input size for the crop, else the
    Kinetics defaults (2, 256, 224; no crop for a detector). ``crop_size=0``
    means no crop (returned as None). An explicit value that differs from the
    model's own is used, with a one-line warning.
    """
    preprocessor = getattr(model, "preprocessor", None)
    saved = {
        name: getattr(preprocessor, name, None)
        for name in ("sampling_rate", "short_side", "crop_size")
    }
    given = {
        "sampling_rate": sampling_rate,
        "short_side": short_side,
        "crop_size": crop_size,
    }
    for name, value in given.items():
        if value and saved[name] is not None and value != saved[name]:
            logger.warning(
                "%s=%s differs from the %s=%s %s was trained with",
                name,
                value,
                name,
                saved[name],
                getattr(model, "name", "the model"),
            )
    resolved = {
        name: saved[name] if given[name] is None else given[name] for name in given
    }
    if resolved["crop_size"] is None:
        image_size = tuple(getattr(model, "image_size", None) or (None, None))
        fixed = None not in image_size
        # A detector scores boxes anywhere in the frame: no crop by default.
        fallback = None if is_detection_model(model) else DEFAULT_CROP_SIZE
        resolved["crop_size"] = int(image_size[0]) if fixed else fallback
    return (
        int(resolved["sampling_rate"] or DEFAULT_SAMPLING_RATE),
        int(resolved["short_side"] or DEFAULT_SHORT_SIDE),
        resolved["crop_size"] or None,
    )


def model_class_names(model):
    """The model's ``class_names`` (a list) or None."""
    return getattr(model, "class_names", None)


def check_class_names(class_names, num_classes):
    """``class_names`` as a list of ``num_classes`` strings, or None.

    Raises:
        ValueError: a count that differs from ``num_classes``.
    """
    if class_names is None:
        return None
    if isinstance(class_names, str):
        raise TypeError("class_names must be a list of names, got a str")
    names = [str(name) for name in class_names]
    if len(names) != int(num_classes):
        raise ValueError(
            f"class_names has {len(names)} names but the model has "
            f"num_classes={num_classes}"
        )
    return names


def check_backbone(backbone, task):
    """Raises a TypeError unless ``backbone`` is a :class:`SlowFastBackbone`."""
    if not isinstance(backbone, SlowFastBackbone):
        raise TypeError(
            f"{task} needs a SlowFastBackbone as backbone, got "
            f"{type(backbone).__name__}; build one with SlowFastBackbone(...) or "
            "SlowFastBackbone.from_preset(name)"
        )
    return backbone


def dtype_name(dtype):
    """The name of a dtype policy argument (None stays None)."""
    return None if dtype is None else keras.dtype_policies.get(dtype).name


def task_preprocessor(preprocessor):
    """The given :class:`VideoPreprocessor`, or the default Kinetics one."""
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    if preprocessor is None:
        return VideoPreprocessor()
    if isinstance(preprocessor, dict):  # from a saved config
        preprocessor = keras.saving.deserialize_keras_object(preprocessor)
    if not isinstance(preprocessor, VideoPreprocessor):
        raise TypeError(
            "preprocessor must be a VideoPreprocessor, got "
            f"{type(preprocessor).__name__}"
        )
    return preprocessor


class SlowFastTask(keras.Model):
    """Base of the task models: a backbone, a head and a preprocessor.

    Subclasses build their functional graph around the backbone, call
    ``super().__init__(inputs=..., outputs=...)``, then ``_set_task_parts``.
    The head's dtype policy is the task's ``dtype`` argument, by default the
    backbone's. The backbone's architecture
    values that data pipelines and exports read (``num_frames``,
    ``image_size``, ``alpha``, ``pathways``) are available on the task, and
    ``input_convention`` is the preprocessor's. ``class_names`` (a list, index
    = class id, or None) is saved with the task, so a trained or pretrained
    model names its classes wherever it is used.
    """

    def _set_task_parts(self, backbone, head, preprocessor, dtype, class_names):
        self.class_names = check_class_names(class_names, head.num_classes)
        self.dtype_argument = dtype_name(dtype)
        if dtype is not None:
            # A functional Model drops its ``dtype`` argument: set its policy.
            self.dtype_policy = dtype
        self.backbone = backbone
        self.head = head
        self.preprocessor = preprocessor

    @property
    def num_frames(self):
        """Frames per input clip (the backbone's)."""
        return self.backbone.num_frames

    @property
    def image_size(self):
        """Fixed input ``[height, width]`` or None (the backbone's)."""
        return self.backbone.image_size

    @property
    def alpha(self):
        """Fast/Slow frame-rate ratio (the backbone's)."""
        return self.backbone.alpha

    @property
    def pathways(self):
        """``"slowfast"``, ``"slow"`` or ``"fast"`` (the backbone's)."""
        return self.backbone.pathways

    @property
    def input_convention(self):
        """``{"mean", "std", "channel_order"}`` of the preprocessor."""
        return self.preprocessor.input_convention

    def _base_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_argument,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "class_names": self.class_names,
        }

    # Backbone arguments this task's presets start from (the detector's AVA
    # strides); the caller's arguments override them.
    PRESET_BACKBONE_ARGUMENTS = {}

    # "classifier" or "detector": which weighted presets this task loads.
    ZOO_TASK = None

    @classmethod
    def from_preset(cls, preset, num_classes=None, **kwargs):
        """This task on a named preset: pretrained, or an architecture.

        A weighted preset (``keras_slowfast.zoo_names()``, such as
        ``"slowfast_8x8_r50_kinetics400"``) gives the published model with its
        weights, class names and input settings, downloaded and converted on
        first use and cached; ``num_classes`` other than its own puts a new
        head on the pretrained backbone (fine-tuning). An architecture preset
        (``SlowFastBackbone.presets``) gives an untrained model.

        Args:
            preset: str. Preset name.
            num_classes: int or None. Output classes; None: the preset's (or
                the task's default).
            **kwargs: for an architecture preset, backbone arguments
                (overriding the preset's) and task arguments, told apart by
                name. A weighted preset takes none.
        """
        from keras_slowfast.models.zoo import is_zoo_name, zoo_entry

        if is_zoo_name(preset):
            task = zoo_entry(preset)["task"]
            if task != cls.ZOO_TASK:
                other = (
                    "SlowFastDetector"
                    if task == "detector"
                    else "SlowFastVideoClassifier"
                )
                raise ValueError(
                    f"{preset!r} is a {task} preset; load it with {other}.from_preset "
                    "or keras_slowfast.load_model"
                )
            if kwargs:
                raise ValueError(
                    f"weighted preset {preset!r} takes only num_classes, got "
                    f"{sorted(kwargs)}; build the architecture preset "
                    f"{zoo_entry(preset)['architecture']!r} to change others"
                )
            from keras_slowfast.models.pretrained import load_pretrained

            return load_pretrained(preset, num_classes=num_classes)
        backbone_args, task_args = split_arguments(kwargs)
        backbone = SlowFastBackbone.from_preset(
            preset, **{**cls.PRESET_BACKBONE_ARGUMENTS, **backbone_args}
        )
        if num_classes is not None:
            task_args["num_classes"] = num_classes
        return cls(backbone, **task_args)

    @classmethod
    def from_config(cls, config):
        if "backbone" not in config:
            raise ValueError(f"This {cls.__name__} file was {LEGACY_MESSAGE}.")
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
