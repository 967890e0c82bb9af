"""A small training job for the resume tests (run by them as a subprocess).

Usage: python resume_job.py OUTPUT_DIR [--stop-at STEP [--signal KILL|TERM]]
       [--multi-worker]

Trains the tiny SlowFast (head dropout 0.5, so the dropout state matters) on
24 synthetic clips, 3 epochs of 6 steps, with a backup every 3 steps. With
``--stop-at`` the job sends itself the signal after that many steps of this
run: SIGKILL ends it at once (the steps since the last backup are lost and
redone), SIGTERM lets the backup save that step and stop. A finished job
writes ``result_<task>.npz``: the per-epoch history and the final weights.
With ``--multi-worker``, TF_CONFIG names the cluster and this task.
"""

import argparse
import json
import logging
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_slowfast.data import synthetic  # noqa: E402
from keras_slowfast.models.factories import classifier_from_arguments  # noqa: E402
from keras_slowfast.training import distribute, trainer  # noqa: E402
from keras_slowfast.training.recipe import TrainingRecipe  # noqa: E402
from keras_slowfast.training.resume import TrainingInterrupted  # noqa: E402


class SignalAt(keras.callbacks.Callback):
    """Sends this process ``signal_number`` after its ``step``-th step."""

    def __init__(self, step, signal_number):
        super().__init__()
        self.step, self.signal_number, self.seen = step, signal_number, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            os.kill(os.getpid(), self.signal_number)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--stop-at", type=int)
    parser.add_argument("--signal", choices=("KILL", "TERM"), default="KILL")
    parser.add_argument("--multi-worker", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    strategy, task = None, 0
    if args.multi_worker:
        strategy = distribute.make_strategy("multi_worker")  # first TF work
        task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    keras.utils.set_random_seed(0)
    kwargs = {"num_frames": 8, "image_size": 32}
    data = synthetic.make_motion_dataset(24, seed=0, **kwargs)
    validation = synthetic.make_motion_dataset(8, seed=1, **kwargs)

    def make_model():
        return classifier_from_arguments(
            stage_depths=[1, 1, 1, 1], alpha=4, beta_inv=8, num_frames=8,
            num_classes=8, dropout_rate=0.5,
        )  # fmt: skip

    callbacks = []
    if args.stop_at:
        callbacks.append(SignalAt(args.stop_at, getattr(signal, f"SIG{args.signal}")))
    recipe = TrainingRecipe(
        epochs=3, warmup_epochs=1, batch_size=4, base_learning_rate=0.01
    )
    try:
        history = trainer.train(
            make_model,
            data,
            validation_data=validation,
            recipe=recipe,
            strategy=strategy,
            output_dir=args.output_dir,
            tensorboard=False,
            backup_every_steps=3,
            callbacks=callbacks,
            verbose=0,
        )
    except TrainingInterrupted as stop:
        print(stop, file=sys.stderr)
        return stop.exit_code
    weights = [keras.ops.convert_to_numpy(w) for w in history.model.weights]
    np.savez(
        os.path.join(args.output_dir, f"result_{task}.npz"),
        history=json.dumps(history.history),
        **{f"w{i}": w for i, w in enumerate(weights)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
