"""Hyperparameter search with keras-tuner over SlowFast's own knobs.

``SlowFastHyperModel`` searches the frame-rate ratio alpha, the channel ratio
beta, the T-conv fusion kernel, the learning rate and the weight decay; each
trial builds a ``SlowFastVideoClassifier`` from a fixed base config plus the
sampled values and compiles it with the reference recipe (SGD, warm-up +
cosine, decay off BN/biases). Use it with any keras-tuner tuner on your own dataset::

    hypermodel = SlowFastHyperModel(base_config, recipe, steps_per_epoch=100)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy",
                                     max_trials=10, directory="tuning")
    tuner.search(train_ds, validation_data=val_ds, epochs=recipe.epochs)
"""

import dataclasses

import keras_tuner

from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training.recipe import TrainingRecipe
from keras_slowfast.training.trainer import compile_model

DEFAULT_SEARCH_SPACE = {
    "alpha": [2, 4, 8],
    "beta_inv": [4, 8, 16],
    "fusion_kernel_size": [3, 5, 7],
    "learning_rate": (0.01, 0.4),
    "weight_decay": (1e-5, 1e-3),
}


class SlowFastHyperModel(keras_tuner.HyperModel):
    """A keras-tuner ``HyperModel`` for SlowFast.

    Args:
        base_config: dict. Backbone and classifier arguments shared by every trial
            (``num_classes``, ``num_frames``, ``stage_depths``...).
        recipe: ``TrainingRecipe`` or None. The trial's recipe; its
            ``base_learning_rate`` (per ``reference_batch_size`` clips) and
            ``weight_decay`` are replaced by the sampled values.
        steps_per_epoch: int. Steps of one training epoch (for the schedule).
        search_space: dict or None. Overrides of ``DEFAULT_SEARCH_SPACE``:
            lists are choices, ``(low, high)`` pairs log-uniform ranges.
            ``num_frames`` must be divisible by every alpha choice.
    """

    def __init__(
        self,
        base_config,
        recipe=None,
        steps_per_epoch=1,
        search_space=None,
        name="slowfast",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        self.base_config = dict(base_config)
        self.recipe = recipe or TrainingRecipe()
        self.steps_per_epoch = int(steps_per_epoch)
        self.search_space = {**DEFAULT_SEARCH_SPACE, **(search_space or {})}
        unknown = sorted(set(self.search_space) - set(DEFAULT_SEARCH_SPACE))
        if unknown:
            raise ValueError(
                f"search_space keys {unknown} are not searched; expected some of "
                f"{sorted(DEFAULT_SEARCH_SPACE)}"
            )
        num_frames = self.base_config.get("num_frames", 32)
        bad = [a for a in self.search_space["alpha"] if num_frames % a]
        if bad:
            raise ValueError(
                f"alpha choices {bad} do not divide num_frames={num_frames}"
            )

    def build(self, hp):
        space = self.search_space
        config = dict(self.base_config)
        config["alpha"] = hp.Choice("alpha", space["alpha"])
        config["beta_inv"] = hp.Choice("beta_inv", space["beta_inv"])
        config["fusion_kernel_size"] = hp.Choice(
            "fusion_kernel_size", space["fusion_kernel_size"]
        )
        low, high = space["learning_rate"]
        learning_rate = hp.Float("learning_rate", low, high, sampling="log")
        low, high = space["weight_decay"]
        weight_decay = hp.Float("weight_decay", low, high, sampling="log")
        recipe = dataclasses.replace(
            self.recipe, base_learning_rate=learning_rate, weight_decay=weight_decay
        )
        model = classifier_from_arguments(**config)
        return compile_model(model, recipe, self.steps_per_epoch)
