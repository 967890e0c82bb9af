"""Training: the reference recipe, the train/evaluate entry points, distribution,
fine-tuning and hyperparameter search (TensorFlow)."""

from keras_slowfast.training.distribute import (
    make_strategy,
    synchronize_batch_norm,
)
from keras_slowfast.training.finetune import finetune_model
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
    mixed_precision_policy,
)
from keras_slowfast.training.trainer import (
    compile_model,
    evaluate,
    load_config,
    train,
    train_from_config,
)

# keras-tuner is imported only by keras_slowfast.training.tuner (SlowFastHyperModel).
__all__ = [
    "compile_model",
    "evaluate",
    "finetune_model",
    "load_config",
    "make_strategy",
    "synchronize_batch_norm",
    "train",
    "train_from_config",
    "SparseLabelSmoothingCrossentropy",
    "TrainingRecipe",
    "WarmupCosineDecay",
    "build_loss",
    "build_metrics",
    "build_optimizer",
    "build_schedule",
    "decay_exempt_variables",
    "decayed_variables",
    "mixed_precision_policy",
]
