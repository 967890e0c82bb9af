"""Fine-tuning: a trained SlowFast with a new head for another set of classes."""

import json
import os

import keras

from keras_slowfast.models.slowfast import SlowFastNet

HEAD_LAYERS = ("head",)


def _load_source(model_or_path, config=None):
    if isinstance(model_or_path, keras.Model):
        return model_or_path
    path = str(model_or_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.endswith(".keras"):
        return keras.saving.load_model(path)
    if path.endswith(".weights.h5"):
        if config is None:
            sidecar = path[: -len(".weights.h5")] + ".config.json"
            if not os.path.isfile(sidecar):
                raise ValueError(
                    f"{path}: a .weights.h5 file needs the model config; pass "
                    f"config=... (SlowFastNet arguments) or write {sidecar}"
                )
            with open(sidecar, encoding="utf-8") as handle:
                config = json.load(handle)
        model = SlowFastNet.from_config(dict(config))
        model.load_weights(path)
        return model
    raise ValueError(f"model file {path} must be a .keras or .weights.h5 file")


def finetune_model(
    model_or_path,
    num_classes,
    *,
    freeze_backbone=False,
    config=None,
    dropout_rate=None,
    head_activation="keep",
):
    """A SlowFast ready to fine-tune on ``num_classes`` classes.

    Rebuilds the network from the source's config with the new
    ``num_classes``, copies the weights of every layer except the head (by
    layer name, so nothing is matched by position), and leaves the new head
    freshly initialized. With ``freeze_backbone=True`` only the head trains
    (batch norms of the frozen backbone then run in inference mode, as Keras
    does for non-trainable BatchNormalization).

    Args:
        model_or_path: a ``SlowFastNet``, a ``.keras`` file, or a
            ``.weights.h5`` file (converted checkpoint) with ``config`` or a
            ``<name>.config.json`` beside it.
        num_classes: int. Classes of the new head.
        freeze_backbone: bool. Train the head only.
        config: dict or None. ``SlowFastNet`` arguments for a ``.weights.h5``.
        dropout_rate: float or None. New head dropout (None keeps the source's).
        head_activation: new head activation, or ``"keep"`` for the source's.

    Returns:
        A new ``SlowFastNet``.

    Examples:
    >>> model = finetune_model("slowfast_r50_k400.keras", 10, freeze_backbone=True)
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes} must be >= 1")
    source = _load_source(model_or_path, config)
    if not isinstance(source, SlowFastNet):
        raise ValueError(
            f"finetune_model needs a SlowFastNet, got {type(source).__name__}"
        )
    new_config = source.get_config()
    new_config.update(num_classes=num_classes, include_top=True)
    if dropout_rate is not None:
        new_config["dropout_rate"] = float(dropout_rate)
    if head_activation != "keep":
        new_config["head_activation"] = head_activation
    model = SlowFastNet.from_config(new_config)
    source_layers = {layer.name: layer for layer in source.layers}
    copied = 0
    for layer in model.layers:
        if layer.name in HEAD_LAYERS or not layer.weights:
            continue
        if layer.name not in source_layers:
            raise ValueError(f"layer {layer.name!r} is missing in the source model")
        layer.set_weights(source_layers[layer.name].get_weights())
        copied += 1
        if freeze_backbone:
            layer.trainable = False
    model.copied_layers = copied
    return model
