"""What every SlowFast task model shares: its backbone and its preprocessor."""

import keras

from keras_slowfast.models.backbone import SlowFastBackbone, split_arguments

LEGACY_MESSAGE = (
    "written by keras_slowfast 0.1 (class SlowFastNet, or a SlowFastDetector "
    "without a separate backbone); load it with keras_slowfast.load_model(path), "
    "which converts it, then save it again with model.save(path)"
)


SCORE_ACTIVATIONS = ("auto", "softmax", "sigmoid", "none")


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
    ``input_convention`` is the preprocessor's.
    """

    def _set_task_parts(self, backbone, head, preprocessor, dtype):
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
        }

    # Backbone arguments this task's presets start from (the detector's AVA
    # strides); the caller's arguments override them.
    PRESET_BACKBONE_ARGUMENTS = {}

    @classmethod
    def from_preset(cls, preset, num_classes=None, **kwargs):
        """This task on a named backbone preset (``SlowFastBackbone.presets``).

        Args:
            preset: str. Preset name, e.g. ``"slowfast_8x8_r50"``.
            num_classes: int or None. Output classes; None: the task's default.
            **kwargs: backbone arguments (overriding the preset's) and task
                arguments, told apart by name.
        """
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
