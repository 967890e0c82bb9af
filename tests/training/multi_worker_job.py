"""One worker of the 2-process MultiWorkerMirroredStrategy test (run by the test).

Usage: python multi_worker_job.py OUTPUT_DIR; TF_CONFIG names the cluster and task.
Trains a tiny SlowFast with synchronized batch norm and saves the final weights.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_slowfast.data import synthetic  # noqa: E402
from keras_slowfast.models.factories import classifier_from_arguments  # noqa: E402
from keras_slowfast.training import distribute, trainer  # noqa: E402
from keras_slowfast.training.recipe import TrainingRecipe  # noqa: E402


def main(output_dir):
    strategy = distribute.make_strategy("multi_worker")  # first TF work in the process
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    keras.utils.set_random_seed(task)  # different inits: the strategy must sync them
    x, y = synthetic.make_motion_dataset(8, seed=0, num_frames=8, image_size=32)

    def make_model():
        model = classifier_from_arguments(
            stage_depths=[1, 1, 1, 1],
            alpha=4,
            beta_inv=8,
            num_frames=8,
            num_classes=8,
            dropout_rate=0.0,
        )
        distribute.synchronize_batch_norm(model)
        return model

    recipe = TrainingRecipe(
        epochs=2,
        warmup_epochs=1,
        batch_size=4,
        reference_batch_size=4,
        base_learning_rate=0.05,
    )
    history = trainer.train(
        make_model,
        (x, y),
        recipe=recipe,
        strategy=strategy,
        output_dir=output_dir,
        checkpoints=False,
        tensorboard=False,
        verbose=0,
    )
    weights = [keras.ops.convert_to_numpy(w) for w in history.model.weights]
    np.savez(os.path.join(output_dir, f"weights_{task}.npz"), *weights)
    with open(os.path.join(output_dir, f"result_{task}.json"), "w") as handle:
        json.dump(
            {
                "chief": distribute.is_chief(strategy),
                "replicas": strategy.num_replicas_in_sync,
                "iterations": int(
                    keras.ops.convert_to_numpy(history.model.optimizer.iterations)
                ),
                "loss": history.history["loss"],
            },
            handle,
        )


if __name__ == "__main__":
    main(sys.argv[1])
