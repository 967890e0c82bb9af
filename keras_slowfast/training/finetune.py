"""Fine-tuning: a trained SlowFast with a new head for another set of classes."""

import keras

from keras_slowfast.models.backbone import SlowFastBackbone
from keras_slowfast.models.classifier import SlowFastVideoClassifier
from keras_slowfast.models.loading import load_model


def _copy_backbone(backbone):
    """A new backbone with the same config and weights (no shared variables)."""
    copy = SlowFastBackbone.from_config(backbone.get_config())
    copy.set_weights(backbone.get_weights())
    return copy


def finetune_model(
    model_or_path,
    num_classes,
    *,
    freeze_backbone=False,
    config=None,
    dropout_rate=None,
    activation="keep",
):
    """A SlowFast classifier ready to fine-tune on ``num_classes`` classes.

    Copies the source's backbone (config and weights) into a new
    :class:`SlowFastVideoClassifier` with a freshly initialized head for
    ``num_classes`` classes and the source's preprocessor. With
    ``freeze_backbone=True`` only the head trains (batch norms of the frozen
    backbone then run in inference mode, as Keras does for non-trainable
    BatchNormalization).

    Args:
        model_or_path: a :class:`SlowFastVideoClassifier` or
            :class:`SlowFastBackbone`, or a file :func:`load_model` reads (a
            ``.keras`` file, or a ``.weights.h5`` file of a converted
            checkpoint with ``config`` or a ``<name>.config.json`` beside it).
        num_classes: int. Classes of the new head.
        freeze_backbone: bool. Train the head only.
        config: dict or None. The architecture of a ``.weights.h5`` file.
        dropout_rate: float or None. New head dropout (None keeps the source's).
        activation: new head activation, or ``"keep"`` for the source's.

    Returns:
        A new ``SlowFastVideoClassifier``; its ``copied_layers`` attribute
        counts the backbone layers whose weights came from the source.

    Examples:
    >>> model = finetune_model("slowfast_r50_k400.keras", 10, freeze_backbone=True)
    """
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes={num_classes} must be >= 1")
    if isinstance(model_or_path, keras.Model):
        source = model_or_path
    else:
        source = load_model(model_or_path, config=config)
    if isinstance(source, SlowFastBackbone):
        source_backbone, head_args = source, {}
    elif isinstance(source, SlowFastVideoClassifier):
        source_backbone = source.backbone
        head_args = {
            "dropout_rate": source.dropout_rate,
            "activation": source.activation,
            "head_spatial_pool_size": source.head_spatial_pool_size,
            "preprocessor": source.preprocessor,
        }
    else:
        raise ValueError(
            "finetune_model needs a SlowFastVideoClassifier or SlowFastBackbone, "
            f"got {type(source).__name__}"
        )
    if dropout_rate is not None:
        head_args["dropout_rate"] = float(dropout_rate)
    if activation != "keep":
        head_args["activation"] = activation
    backbone = _copy_backbone(source_backbone)
    if freeze_backbone:
        backbone.trainable = False
    model = SlowFastVideoClassifier(backbone, num_classes, **head_args)
    model.copied_layers = sum(1 for layer in backbone.layers if layer.weights)
    return model
