"""Training: the reference recipe, the train/evaluate entry points, distribution,
fine-tuning and hyperparameter search (TensorFlow)."""

from keras_slowfast.training.recipe import (
    SparseLabelSmoothingCrossentropy,
    TrainingRecipe,
    WarmupCosineDecay,
    build_loss,
    build_metrics,
    build_optimizer,
    build_schedule,
    decay_exempt_variables,
    decayed_variables,
    set_mixed_precision,
)

__all__ = [
    "SparseLabelSmoothingCrossentropy",
    "TrainingRecipe",
    "WarmupCosineDecay",
    "build_loss",
    "build_metrics",
    "build_optimizer",
    "build_schedule",
    "decay_exempt_variables",
    "decayed_variables",
    "set_mixed_precision",
]
