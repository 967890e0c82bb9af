"""Parameter and FLOP counts, in the conventions of the reference model zoos."""

from collections import Counter

import keras

# Batch-norm running statistics are buffers in PyTorch, not parameters.
_BN_STATISTICS = ("moving_mean", "moving_variance")


def count_params(model):
    """Number of parameters as PyTorch counts them.

    Keras counts batch-norm moving statistics as (non-trainable) weights;
    PyTorch keeps them as buffers. This counts every weight except those, so
    a frozen model still reports its full size and the figure compares
    directly with ``sum(p.numel() for p in torch_model.parameters())``.
    """
    total = 0
    for weight in model.weights:
        if weight.path.rsplit("/", 1)[-1] in _BN_STATISTICS:
            continue
        total += int(keras.ops.size(weight))
    return total


def _rebuilt_for(model, input_shape):
    """A weightless copy of ``model`` whose input has exactly ``input_shape``."""
    frames, height, width, _ = input_shape
    size = {"num_frames": frames, "image_size": [height, width]}
    config = model.get_config()
    if "backbone" in config:  # a task: the size is the backbone's
        backbone = config["backbone"]
        backbone = {**backbone, "config": {**backbone["config"], **size}}
        config = {**config, "backbone": backbone}
    else:
        config = {**config, **size}
    return model.__class__.from_config(config)


def _layers_with_flops(model):
    """Every layer below ``model`` that counts its FLOPs (into nested models)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers_with_flops(layer)
        elif hasattr(layer, "flop_counts"):
            yield layer


def flop_breakdown(model, input_shape):
    """FLOPs per operator type for one clip, as fvcore's ``by_operator()``.

    Returns a dict with ``conv``, ``batch_norm``, ``matmul`` (non-local
    attention) and ``linear`` (dense) counts. fvcore counts one FLOP per
    multiply-accumulate and, for an affine inference batch norm, two per
    element; pooling and activations are not counted. (The PyTorchVideo head
    runs its dense layer at every position of its fixed pooling window, so
    fvcore's ``linear`` is larger than ours by that factor: 4 at 256x256.)

    Args:
        model: a ``SlowFastBackbone`` or a task model around one (or a
            functional model of this package's layers, rebuildable from its
            config).
        input_shape: ``(frames, height, width, channels)`` of one clip.
    """
    if len(input_shape) != 4:
        raise ValueError(
            f"input_shape={input_shape} must be (frames, height, width, channels)"
        )
    sized = _rebuilt_for(model, tuple(input_shape))
    counts = Counter()
    for layer in _layers_with_flops(sized):
        for node in layer._inbound_nodes:
            shapes = keras.tree.map_structure(
                lambda t: (1,) + tuple(t.shape[1:]), node.arguments.args[0]
            )
            counts += layer.flop_counts(shapes)
    return {key: int(value) for key, value in sorted(counts.items())}


def count_flops(model, input_shape, batch_norm=True):
    """GFLOP-convention count for one clip: multiply-accumulates, as fvcore.

    With ``batch_norm=True`` (default) this equals fvcore's
    ``FlopCountAnalysis(...).total()`` on the PyTorchVideo model; with
    ``batch_norm=False`` it counts convolutions, matmuls and dense layers only,
    the convention of the PyTorchVideo model-zoo table. Returns an int.
    """
    counts = flop_breakdown(model, input_shape)
    if not batch_norm:
        counts.pop("batch_norm", None)
    return int(sum(counts.values()))
