"""``load_model``: the one way to get a model from a file or a preset name.

It reads ``.keras`` files, ``.weights.h5`` files with their architecture (a
config dict, a ``<name>.config.json`` file beside them, or a preset), and
preset names. Files written by keras_slowfast 0.1, whose model class was
``SlowFastNet`` (backbone and head in one flat model), are converted on
loading: the config is split into backbone and task arguments and the weights
are moved under the backbone; a warning says how to save the file anew.
"""

import json
import logging
import os
import re
import shutil
import tempfile
import zipfile

import keras

from keras_slowfast.layers.utils import register
from keras_slowfast.models.backbone import SlowFastBackbone, backbone_argument_names
from keras_slowfast.models.classifier import SlowFastVideoClassifier
from keras_slowfast.models.detector import SlowFastDetector
from keras_slowfast.models.task import LEGACY_MESSAGE

logger = logging.getLogger(__name__)

# Head layers of the 0.1 flat models; every other layer belongs to the backbone.
_LEGACY_HEAD_GROUPS = ("classification_head", "detection_head")
# Task arguments that 0.1 configs spelled differently.
_LEGACY_RENAMES = {"head_activation": "activation"}
# 0.1 SlowFastNet arguments with no meaning now.
_LEGACY_DROPPED = ("include_top", "pooling", "input_convention", "trainable")


@register
class SlowFastNet:
    """Stands for the 0.1 model class so that its files give a clear error.

    ``keras.saving.load_model`` on a 0.1 file reaches ``from_config``, which
    explains the fix; :func:`load_model` converts such files instead.
    """

    def get_config(self):  # required to register; never an instance
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        raise ValueError(f"This model file was {LEGACY_MESSAGE}.")


def is_legacy_config(class_name, config):
    """Whether a serialized model config is a 0.1 one."""
    return class_name == "SlowFastNet" or (
        class_name == "SlowFastDetector" and "backbone" not in config
    )


def model_from_legacy_config(class_name, config):
    """Builds the current model a 0.1 ``SlowFastNet`` / detector config describes.

    A 0.1 ``SlowFastNet`` with ``include_top=False`` becomes the backbone.
    """
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    config = dict(config)
    backbone_names = backbone_argument_names() | {"dtype"}
    backbone_args = {k: v for k, v in config.items() if k in backbone_names}
    include_top = config.get("include_top", True)
    task_args = {
        _LEGACY_RENAMES.get(k, k): v
        for k, v in config.items()
        if k not in backbone_names and k not in _LEGACY_DROPPED
    }
    preprocessor = VideoPreprocessor.from_convention(config.get("input_convention"))
    if class_name == "SlowFastNet" and not include_top:
        return SlowFastBackbone(**backbone_args, name=config.get("name", "backbone"))
    task_args.pop("name", None)
    backbone = SlowFastBackbone(**backbone_args)
    cls = (
        SlowFastDetector
        if class_name == "SlowFastDetector"
        else (SlowFastVideoClassifier)
    )
    return cls(
        backbone, preprocessor=preprocessor, name=config.get("name"), **task_args
    )


def _move_legacy_weights(source, target, backbone_group):
    """Copies a 0.1 weights file, moving every non-head layer under the backbone."""
    import h5py

    with h5py.File(source, "r") as old, h5py.File(target, "w") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value
        for name in old:
            if name != "layers":
                old.copy(old[name], new, name=name)
                continue
            layers = new.create_group("layers")
            inner = layers.create_group(backbone_group).create_group("layers")
            for layer in old["layers"]:
                destination = layers if layer in _LEGACY_HEAD_GROUPS else inner
                old.copy(old["layers"][layer], destination, name=layer)


def _backbone_group(model):
    """The group name Keras gives the nested backbone in a weights file."""
    if isinstance(model, SlowFastBackbone):
        return None
    return re.sub(r"(?<!^)(?=[A-Z])", "_", SlowFastBackbone.__name__).lower()


def _load_weights(model, path):
    """``model.load_weights(path)``, converting a 0.1 flat layout first."""
    import h5py

    group = _backbone_group(model)
    with h5py.File(path, "r") as handle:
        legacy = (
            group is not None and "layers" in handle and group not in handle["layers"]
        )
    if not legacy:
        model.load_weights(path)
        return
    with tempfile.TemporaryDirectory() as folder:
        moved = os.path.join(folder, "moved.weights.h5")
        _move_legacy_weights(path, moved, group)
        model.load_weights(moved)


def saved_config(path):
    """``(class_name, config)`` of a ``.keras`` file, read without building it."""
    with zipfile.ZipFile(path) as archive:
        saved = json.loads(archive.read("config.json"))
    return saved.get("class_name"), saved.get("config", {})


def saved_input_convention(path):
    """The input convention a ``.keras`` file's model was saved with (or None)."""
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    class_name, config = saved_config(path)
    if is_legacy_config(class_name, config):
        return config.get("input_convention")
    if "preprocessor" not in config:
        return None
    return VideoPreprocessor.from_config(
        config["preprocessor"]["config"]
    ).input_convention


def _load_keras_file(path, compile):
    class_name, inner = saved_config(path)
    if not is_legacy_config(class_name, inner):
        return keras.saving.load_model(path, compile=compile)
    model = model_from_legacy_config(class_name, inner)
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(path) as archive:
        weights = os.path.join(folder, "model.weights.h5")
        with archive.open("model.weights.h5") as src, open(weights, "wb") as dst:
            shutil.copyfileobj(src, dst)
        _load_weights(model, weights)
    logger.warning(
        "%s was %s; converted. Save it again with model.save(...) to skip this.",
        path,
        LEGACY_MESSAGE.split(";")[0],
    )
    return model


def model_from_config(config, detector=False):
    """Builds a task from a config dict: a task's ``get_config()`` or 0.1 args."""
    config = dict(config)
    if "backbone" in config:
        cls = (
            SlowFastDetector
            if detector or "roi_size" in config
            else (SlowFastVideoClassifier)
        )
        return cls.from_config(config)
    return model_from_legacy_config(
        "SlowFastDetector" if detector else "SlowFastNet", config
    )


def model_from_preset(name, detector=False, **overrides):
    """A classifier (or detector) on a named preset, untrained.

    A weighted preset gives its reference model with class names and input
    settings but without downloading its weights (for a ``.weights.h5`` file
    that holds them); it takes only ``num_classes``.
    """
    from keras_slowfast.models.zoo import is_zoo_name

    if is_zoo_name(name):
        from keras_slowfast.models.pretrained import build_zoo_model, with_new_head

        num_classes = overrides.pop("num_classes", None)
        if overrides:
            raise ValueError(
                f"weighted preset {name!r} takes only num_classes, got "
                f"{sorted(overrides)}"
            )
        model = build_zoo_model(name)
        if num_classes is not None and int(num_classes) != model.num_classes:
            model = with_new_head(model, num_classes)
        return model
    cls = SlowFastDetector if detector else SlowFastVideoClassifier
    return cls.from_preset(name, **overrides)


CHECKPOINT_SUFFIXES = (".pyth", ".pth", ".pt", ".pkl", ".gz")


def _is_url(source):
    return source.startswith(("http://", "https://"))


def _load_checkpoint_source(source, preset, overrides):
    """A checkpoint file or URL -> a converted model."""
    from keras_slowfast.models.pretrained import load_checkpoint_url, load_pretrained
    from keras_slowfast.models.zoo import is_zoo_name

    if is_zoo_name(preset):
        extra = sorted(set(overrides) - {"num_classes"})
        if extra:
            raise ValueError(
                f"weighted preset {preset!r} takes only num_classes, got {extra}"
            )
        checkpoint = source
        if _is_url(source):
            from keras_slowfast.models.pretrained import download_checkpoint

            checkpoint = download_checkpoint(source)
        return load_pretrained(preset, checkpoint=checkpoint, **overrides)
    if _is_url(source):
        return load_checkpoint_url(source, preset=preset, **overrides)
    from keras_slowfast.convert.converter import convert_checkpoint

    return convert_checkpoint(source, preset=preset, **overrides)


def load_model(
    source, *, preset=None, config=None, detector=False, compile=False, **overrides
):
    """Loads a model from a file, a checkpoint, a URL or a preset name.

    Args:
        source: str or path. One of:

            * a weighted preset name (``keras_slowfast.zoo_names()``): the
              published model with its weights, downloaded and converted on
              first use, then read from the cache;
            * a ``.keras`` model file;
            * a ``.weights.h5`` file whose architecture comes from ``config``,
              else from a ``<name>.config.json`` beside it, else from
              ``preset``;
            * a PyTorchVideo / PySlowFast / Caffe2 checkpoint file (``.pyth``,
              ``.pth``, ``.pt``, ``.pkl``, optionally ``.gz``) or an http(s)
              URL of one, converted (see ``convert_checkpoint``; with a
              weighted ``preset``, that preset's model, names and settings);
            * an architecture preset name (``SlowFastBackbone.presets``) for
              an untrained model.
        preset: str or None. Architecture of a ``.weights.h5`` file, or the
            preset of a checkpoint.
        config: dict or None. Architecture of a ``.weights.h5`` file: a task's
            ``get_config()``.
        detector: bool. Build a :class:`SlowFastDetector` (AVA backbone
            strides) rather than a classifier from an architecture preset.
        compile: bool. Restore the training configuration of a ``.keras``
            file.
        **overrides: arguments for a model built from a preset (e.g.
            ``num_classes=10``; a weighted preset takes only ``num_classes``,
            which puts a new head on the pretrained backbone).

    Returns:
        A :class:`SlowFastVideoClassifier`, :class:`SlowFastDetector` or
        :class:`SlowFastBackbone`.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: an unknown file type or preset, a missing architecture, or
            weights that do not fit it, each naming the file.
        keras_slowfast.models.pretrained.WeightsDownloadError: a download
            that failed (one line: the URL and how to pass a local file).
    """
    from keras_slowfast.models.presets import preset_names
    from keras_slowfast.models.zoo import is_zoo_name, zoo_names

    source = os.fspath(source)
    if is_zoo_name(source) and not os.path.exists(source):
        from keras_slowfast.models.pretrained import load_pretrained

        extra = sorted(set(overrides) - {"num_classes"})
        if preset is not None or config is not None:
            extra.append("preset" if preset is not None else "config")
        if extra:
            raise ValueError(
                f"weighted preset {source!r} takes only num_classes, got {extra}"
            )
        return load_pretrained(source, **overrides)
    if source in preset_names() and not os.path.exists(source):
        return model_from_preset(source, detector=detector, **overrides)
    if _is_url(source) or source.endswith(CHECKPOINT_SUFFIXES):
        if not _is_url(source) and not os.path.isfile(source):
            raise FileNotFoundError(f"checkpoint {source}: no such file")
        return _load_checkpoint_source(source, preset, overrides)
    if not source.endswith((".keras", ".weights.h5")):
        raise ValueError(
            f"model {source}: expected a .keras model file, a .weights.h5 file, "
            "a checkpoint (.pyth, .pth, .pt, .pkl) or its URL, or a preset name "
            f"(weighted: {', '.join(zoo_names())}; architectures: "
            f"{', '.join(preset_names())})"
        )
    if not os.path.isfile(source):
        raise FileNotFoundError(f"model {source}: no such file")
    if source.endswith(".keras"):
        if preset is not None or config is not None or overrides:
            raise ValueError(
                f"model {source} is a whole .keras model; it takes no preset, "
                "config or overrides"
            )
        try:
            return _load_keras_file(source, compile)
        except Exception as error:  # noqa: BLE001 - reported as one line
            raise ValueError(f"model {source}: cannot load ({error})") from None
    sidecar = source[: -len(".weights.h5")] + ".config.json"
    if config is None and preset is None and os.path.isfile(sidecar):
        with open(sidecar, encoding="utf-8") as handle:
            config = json.load(handle)
    if config is not None:
        model = model_from_config(config, detector=detector)
    elif preset is not None:
        model = model_from_preset(preset, detector=detector, **overrides)
    else:
        raise ValueError(
            f"model {source} holds only weights; give the architecture with "
            f"preset=NAME (--preset), config=... or a {os.path.basename(sidecar)} "
            "file beside it"
        )
    try:
        _load_weights(model, source)
    except Exception as error:  # noqa: BLE001 - reported as one line
        raise ValueError(
            f"model {source}: the weights do not fit the architecture ({error})"
        ) from None
    return model
