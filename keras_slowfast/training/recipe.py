"""The reference training recipe: SGD, warm-up + cosine schedule, loss, weight decay.

Defaults follow PySlowFast ``configs/Kinetics/SLOWFAST_8x8_R50.yaml``: SGD with
Nesterov momentum 0.9, weight decay 1e-4 on convolution and dense kernels only
(never on batch-norm scales/offsets or biases), base learning rate 0.1 for a
batch of 64 clips scaled linearly with the batch size, a linear warm-up from
0.01 (scaled the same way) over the first 34 epochs and a half-cosine to 0 over
all 196 epochs, head dropout 0.5, softmax cross-entropy (sigmoid BCE for
multi-label data such as Charades).
"""

import dataclasses
import logging
import math

import keras
import tensorflow as tf

from keras_slowfast.layers.utils import register

# PySlowFast SLOWFAST_8x8_R50: SOLVER.MAX_EPOCH 196, SOLVER.WARMUP_EPOCHS 34.
REFERENCE_EPOCHS = 196
REFERENCE_WARMUP_EPOCHS = 34
logger = logging.getLogger("keras_slowfast")
# Epoch counts whose scaled warm-up was logged (a config builds its recipe
# several times; say it once).
_SCALED_WARMUP_LOGGED = {REFERENCE_EPOCHS}


@dataclasses.dataclass
class TrainingRecipe:
    """Hyperparameters of a training run, with the reference values as defaults.

    Epoch counts are converted to optimizer steps with the number of steps per
    epoch of the actual dataset, so the same recipe works for any dataset size.

    Attributes:
        epochs: int. Length of the run (the cosine reaches its end here).
        warmup_epochs: float or None. Linear warm-up length. None (default)
            takes the reference's share of the run: PySlowFast warms up for
            34 of 196 epochs, so ``epochs * 34 / 196`` (34 for 196 epochs,
            about 1 for 6), and logs the value.
        batch_size: int. Global batch size (all replicas together).
        base_learning_rate: float. Peak learning rate for ``reference_batch_size``.
        warmup_start_learning_rate: float. Warm-up start, for the same batch.
        reference_batch_size: int. Batch size the two rates above are given for;
            both are multiplied by ``batch_size / reference_batch_size``.
        end_learning_rate: float. Learning rate at the end of the cosine.
        momentum: float. SGD momentum.
        nesterov: bool. Nesterov momentum.
        weight_decay: float. Decay of kernels (not BN, not biases).
        label_smoothing: float. Label smoothing of the loss.
        multi_label: bool. Sigmoid BCE (multi-label) instead of softmax
            cross-entropy.
        dropout_rate: float. Head dropout, applied when a model is built from a
            config by the trainer.
        mixed_precision: bool. Train in mixed precision (float16 on GPU,
            bfloat16 on CPU); set before the model is built.
    """

    epochs: int = 196
    warmup_epochs: float | None = None
    batch_size: int = 64
    base_learning_rate: float = 0.1
    warmup_start_learning_rate: float = 0.01
    reference_batch_size: int = 64
    end_learning_rate: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    multi_label: bool = False
    dropout_rate: float = 0.5
    mixed_precision: bool = False

    def __post_init__(self):
        for name in ("epochs", "batch_size", "reference_batch_size"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
            setattr(self, name, int(value))
        if self.warmup_epochs is None:
            self.warmup_epochs = round(
                self.epochs * REFERENCE_WARMUP_EPOCHS / REFERENCE_EPOCHS, 3
            )
            if self.epochs not in _SCALED_WARMUP_LOGGED:
                _SCALED_WARMUP_LOGGED.add(self.epochs)
                logger.info(
                    "warmup_epochs not set: %s, the reference's %d of %d epochs "
                    "scaled to epochs=%d",
                    self.warmup_epochs,
                    REFERENCE_WARMUP_EPOCHS,
                    REFERENCE_EPOCHS,
                    self.epochs,
                )
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(
                f"warmup_epochs={self.warmup_epochs} must be in "
                f"[0, epochs={self.epochs}]"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(
                f"label_smoothing={self.label_smoothing} must be in [0, 1)"
            )
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay={self.weight_decay} must be >= 0")

    @property
    def scale(self):
        """Linear scaling factor ``batch_size / reference_batch_size``."""
        return self.batch_size / self.reference_batch_size

    @classmethod
    def from_dict(cls, values):
        """Builds a recipe from a dict, naming any unknown key in a ValueError."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown training options {unknown}; expected some of {sorted(known)}"
            )
        return cls(**values)

    def to_dict(self):
        """The recipe as a plain dict (for configs and logs)."""
        return dataclasses.asdict(self)


@register
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up followed by a half-cosine decay, PySlowFast style.

    The cosine is laid over the whole run, ``lr(s) = end + (peak - end) * (1 +
    cos(pi * s / total_steps)) / 2``; during the first ``warmup_steps`` the rate
    instead rises linearly from ``warmup_start`` to ``lr(warmup_steps)``, the
    cosine's value where warm-up ends (as PySlowFast ``get_lr_at_epoch`` does).
    After ``total_steps`` the rate stays at ``end``.

    Args:
        peak_learning_rate: float. Cosine value at step 0.
        total_steps: int. Steps of the whole run.
        warmup_steps: int. Warm-up steps (0 for none).
        warmup_start: float. Learning rate at step 0 when warming up.
        end_learning_rate: float. Learning rate at ``total_steps``.

    Examples:
    >>> schedule = WarmupCosineDecay(0.1, total_steps=1000, warmup_steps=100,
    ...                              warmup_start=0.001)
    >>> float(schedule(0))
    0.001
    """

    def __init__(
        self,
        peak_learning_rate,
        total_steps,
        warmup_steps=0,
        warmup_start=0.0,
        end_learning_rate=0.0,
    ):
        if total_steps < 1:
            raise ValueError(f"total_steps={total_steps} must be >= 1")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps={warmup_steps} must be in [0, total_steps={total_steps}]"
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start = float(warmup_start)
        self.end_learning_rate = float(end_learning_rate)

    def _cosine(self, step):
        progress = keras.ops.minimum(step / self.total_steps, 1.0)
        return self.end_learning_rate + (
            self.peak_learning_rate - self.end_learning_rate
        ) * 0.5 * (1.0 + keras.ops.cos(math.pi * progress))

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        cosine = self._cosine(step)
        if self.warmup_steps == 0:
            return cosine
        at_warmup_end = self._cosine(keras.ops.cast(self.warmup_steps, "float32"))
        warmup = self.warmup_start + (at_warmup_end - self.warmup_start) * (
            step / self.warmup_steps
        )
        return keras.ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_start": self.warmup_start,
            "end_learning_rate": self.end_learning_rate,
        }


def build_schedule(recipe, steps_per_epoch):
    """The recipe's warm-up + cosine schedule in steps, with linear LR scaling.

    Args:
        recipe: ``TrainingRecipe``.
        steps_per_epoch: int. Optimizer steps in one epoch.

    Returns:
        A ``WarmupCosineDecay``.
    """
    if int(steps_per_epoch) != steps_per_epoch or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch={steps_per_epoch!r} must be a positive int")
    return WarmupCosineDecay(
        recipe.base_learning_rate * recipe.scale,
        total_steps=recipe.epochs * int(steps_per_epoch),
        warmup_steps=round(recipe.warmup_epochs * steps_per_epoch),
        warmup_start=recipe.warmup_start_learning_rate * recipe.scale,
        end_learning_rate=recipe.end_learning_rate,
    )


def decay_exempt_variables(model):
    """The trainable variables that get no weight decay: BN scales/offsets, biases.

    Every variable of a batch-normalization layer (gamma, beta) and every
    variable named ``bias`` anywhere in the model is exempt, as in the reference
    (PySlowFast ``BN.WEIGHT_DECAY = 0``; biases of the non-local and head
    layers excluded as well).
    """
    exempt = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            for variable in layer.trainable_variables:
                exempt[id(variable)] = variable
    for variable in model.trainable_variables:
        if variable.name == "bias" or variable.path.endswith("/bias"):
            exempt[id(variable)] = variable
    return list(exempt.values())


def decayed_variables(model):
    """The trainable variables that do get weight decay (the complement)."""
    exempt = {id(v) for v in decay_exempt_variables(model)}
    return [v for v in model.trainable_variables if id(v) not in exempt]


def build_optimizer(model, recipe, steps_per_epoch):
    """SGD (Nesterov momentum) with the recipe's schedule and filtered decay.

    Weight decay is decoupled and multiplied by the learning rate, ``w -= lr *
    weight_decay * w`` before each update, and applied only to
    :func:`decayed_variables`: batch-norm gammas/betas and biases are excluded
    through the optimizer's ``exclude_from_weight_decay(var_list=...)``.
    Build the model before calling this.
    """
    if not model.built or not model.trainable_variables:
        raise ValueError("model must be built (have variables) before build_optimizer")
    optimizer = keras.optimizers.SGD(
        learning_rate=build_schedule(recipe, steps_per_epoch),
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay or None,
    )
    if recipe.weight_decay:
        optimizer.exclude_from_weight_decay(var_list=decay_exempt_variables(model))
    return optimizer


@register
class SparseLabelSmoothingCrossentropy(keras.losses.Loss):
    """Softmax cross-entropy on integer labels, with label smoothing.

    Keras' ``SparseCategoricalCrossentropy`` has no label smoothing; this one
    one-hot encodes the labels first.

    Args:
        label_smoothing: float. Mass spread uniformly over all classes.
        from_logits: bool. Whether predictions are logits.
    """

    def __init__(self, label_smoothing=0.0, from_logits=True, name=None, **kwargs):
        super().__init__(name=name or "sparse_label_smoothing_crossentropy", **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        one_hot = keras.ops.one_hot(labels, keras.ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(
            one_hot,
            y_pred,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            label_smoothing=self.label_smoothing, from_logits=self.from_logits
        )
        return config


def build_loss(recipe, from_logits=True):
    """Softmax cross-entropy (integer labels) or sigmoid BCE (multi-hot labels)."""
    if recipe.multi_label:
        return keras.losses.BinaryCrossentropy(
            from_logits=from_logits, label_smoothing=recipe.label_smoothing
        )
    if recipe.label_smoothing:
        return SparseLabelSmoothingCrossentropy(recipe.label_smoothing, from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def build_metrics(recipe, num_classes):
    """Training metrics: accuracy (+ top-5 with > 5 classes), or PR-AUC multi-label."""
    if recipe.multi_label:
        return [keras.metrics.AUC(curve="PR", multi_label=True, name="pr_auc")]
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if num_classes and num_classes > 5:
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5"))
    return metrics


def mixed_precision_policy(enabled):
    """The dtype policy the recipe's ``mixed_precision`` means on this machine.

    ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on CPU (where float16 is
    slow), ``float32`` when disabled. Give it to a model as its ``dtype``
    (``models.precision.with_dtype``); the global Keras policy is not touched.
    """
    if not enabled:
        policy = "float32"
    elif tf.config.list_physical_devices("GPU"):
        policy = "mixed_float16"
    else:
        policy = "mixed_bfloat16"
    return policy
