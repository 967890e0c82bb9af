"""Precision by argument: copies of a model computing in another dtype policy."""

import keras

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def with_dtype(model, dtype, head_dtype=None):
    """A copy of a backbone or task model whose layers compute in ``dtype``.

    The policy is given to the backbone and the head as their ``dtype``
    argument (the global Keras policy is left alone), and the weights are
    copied over.

    Args:
        model: a ``SlowFastBackbone`` or a task model around one.
        dtype: str. A dtype policy: ``"float32"``, ``"mixed_bfloat16"``,
            ``"mixed_float16"``, ``"float16"``, ``"bfloat16"``.
        head_dtype: str or None. A task head's own policy (e.g. ``"float32"``
            under mixed precision, so the logits keep their precision); None
            uses ``dtype``.

    Returns:
        A new model of the same class.
    """
    dtype = keras.dtype_policies.get(dtype).name
    config = model.get_config()
    if "backbone" in config:
        backbone = config["backbone"]
        config = {
            **config,
            "backbone": {**backbone, "config": {**backbone["config"], "dtype": dtype}},
            "dtype": head_dtype or dtype,
        }
    else:
        config = {**config, "dtype": dtype}
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def computes_in_float16(model):
    """True when any layer of ``model`` runs a float16 policy (loss scaling)."""
    return any(
        layer.dtype_policy.compute_dtype == "float16"
        for layer in model._flatten_layers(include_self=True)
    )
