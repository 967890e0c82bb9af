"""Training that survives preemption: exact mid-epoch backups and resumes.

A run is a sequence of (epoch, step) positions. What the next step does
depends on the model's variables (weights, batch-norm statistics, the
dropout layers' seed-generator states), the optimizer's variables (step
count, hence the learning-rate position, and momentum), the metric
accumulators of the running epoch, and which batch comes next. ``Backup``
saves all of it, with the per-epoch history and the best value of every
``ModelCheckpoint``, every ``every_steps`` steps, every ``every_minutes``
minutes, at the end of every epoch, and when the process gets SIGTERM or
SIGINT (the signal cloud schedulers send before preemption: the running step
finishes, the state is saved, and training stops with
:class:`TrainingInterrupted`).

The batch that comes next is a function of (data seed, epoch, step) only:
each epoch's order is a permutation drawn from ``(seed, epoch)`` and a
resumed epoch skips the batches it had already trained on (see
:class:`ArrayEpochs` and ``VideoClipDataset.build(epoch=...)``), so a resumed
run takes the same steps as the uninterrupted one. Keras' own
``BackupAndRestore`` restores only at epoch boundaries and keeps neither the
data position nor the dropout state; it is not used.
"""

import json
import logging
import os
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf

LOG = logging.getLogger("keras_slowfast")
STATE_FILE = "state.npz"


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving its state; run it again to resume.

    Attributes:
        signal_number: int. The signal (``signal.SIGTERM``, ``signal.SIGINT``).
        epoch, step: where the saved state resumes (0-based epoch, batches
            done in it).
    """

    def __init__(self, signal_number, epoch, step, backup_dir):
        name = signal.Signals(signal_number).name
        super().__init__(
            f"{name} received: state saved in {backup_dir} at epoch {epoch + 1}, "
            f"step {step}; run the same command again to resume"
        )
        self.signal_number = signal_number
        self.epoch = epoch
        self.step = step

    @property
    def exit_code(self):
        """The shell's code for death by this signal (143 for SIGTERM)."""
        return 128 + int(self.signal_number)


class ArrayEpochs:
    """Batches of ``(x, y)`` arrays in a per-epoch order fixed by ``(seed, epoch)``.

    ``dataset(epoch, skip_batches)`` is the epoch's batches without the
    first ``skip_batches``; it does not depend on how many epochs this
    process ran before, so a resumed run sees the batches the uninterrupted
    run saw.

    Args:
        x, y: arrays with the same first dimension.
        batch_size: int. Global batch size.
        seed: int. Order seed.
        shuffle: bool. False keeps the array order in every epoch.
    """

    def __init__(self, x, y, batch_size, seed=0, shuffle=True):
        if len(x) != len(y):
            raise ValueError(f"data has {len(x)} clips but {len(y)} labels")
        self.x, self.y = tf.constant(x), tf.constant(y)
        self.size = len(x)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)

    @property
    def steps_per_epoch(self):
        return max(1, -(-self.size // self.batch_size))

    def order(self, epoch):
        """The clip indices of ``epoch``, in training order."""
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.size)

    def dataset(self, epoch, skip_batches=0):
        indices = tf.data.Dataset.from_tensor_slices(self.order(epoch))
        batches = indices.batch(self.batch_size).skip(int(skip_batches))
        return batches.map(
            lambda index: (tf.gather(self.x, index), tf.gather(self.y, index))
        )


class DatasetEpochs:
    """A user's ``tf.data.Dataset``, one pass per epoch.

    Resuming mid-epoch skips ``skip_batches`` batches of a fresh pass: the
    same batches as before only if the dataset's order does not depend on
    how many passes this process made (``shuffle(...,
    reshuffle_each_iteration=True)`` restarts its sequence in a new
    process). Pass arrays, a run config or an epoch function for exact resumes.
    """

    def __init__(self, dataset):
        self._dataset = dataset
        self.seed = None

    def dataset(self, epoch, skip_batches=0):
        del epoch
        return self._dataset.skip(int(skip_batches))


class FunctionEpochs:
    """``make(epoch)`` -> that epoch's dataset; resuming skips batches of it."""

    def __init__(self, make):
        self._make = make
        self.seed = None

    def dataset(self, epoch, skip_batches=0):
        return self._make(int(epoch)).skip(int(skip_batches))


def _npz_name(index):
    return f"v{index:05d}"


def _variable_groups(model):
    """Every variable that decides the next step, by group, in a fixed order."""
    groups = {"model": model.variables}
    if model.optimizer is not None:
        groups["optimizer"] = model.optimizer.variables
    groups["metrics"] = model.metrics_variables
    return groups


def _read(variable):
    """A variable's value as NumPy; for a distributed metric variable
    (synchronized on read), the sum over the replicas."""
    value = variable.value
    if hasattr(value, "read_value"):
        value = value.read_value()
    return np.asarray(tf.convert_to_tensor(value))


def _atomic_write(path, write):
    temporary = f"{path}.tmp{os.getpid()}"
    write(temporary)
    os.replace(temporary, path)


class Backup(keras.callbacks.Callback):
    """Saves and restores the whole training state (see the module docstring).

    ``keras_slowfast.training.train`` adds it when it has an ``output_dir``
    and runs one ``fit`` per epoch, so a resumed epoch starts at its step.

    Args:
        backup_dir: str. Folder of the state (``state.npz``: every variable
            and the position, replaced atomically).
        every_steps: int or None. Save when this many steps have run since
            the last save (epoch ends save too).
        every_minutes: float or None. Save when this much time has passed
            since the last save (checked after each step).
        on_signals: bool. Save and stop on SIGTERM / SIGINT (main thread
            only). A signal during an epoch's last step or its validation
            takes effect after the epoch-end save.
        checkpoints: list of ``keras.callbacks.ModelCheckpoint`` whose
            ``best`` values are saved and restored.
    """

    def __init__(
        self,
        backup_dir,
        *,
        every_steps=None,
        every_minutes=10.0,
        on_signals=True,
        checkpoints=(),
    ):
        super().__init__()
        if every_steps is not None and (
            int(every_steps) != every_steps or every_steps < 1
        ):
            raise ValueError(f"every_steps={every_steps!r} must be a positive integer")
        if every_minutes is not None and not every_minutes > 0:
            raise ValueError(f"every_minutes={every_minutes!r} must be > 0")
        self.backup_dir = backup_dir
        self.every_steps = None if every_steps is None else int(every_steps)
        self.every_minutes = every_minutes
        self.on_signals = bool(on_signals)
        self.checkpoints = list(checkpoints)
        self.epoch = 0
        self.step = 0
        self.history = {}
        self.data_seed = None
        self._pending_metrics = None
        self._counts = {}
        self._last_save = time.monotonic()
        self._steps_since_save = 0
        self._signal = None
        self._previous_handlers = {}

    # -- state on disk -----------------------------------------------------

    def exists(self):
        return os.path.isfile(os.path.join(self.backup_dir, STATE_FILE))

    def save(self):
        """Writes the state now (variables first, then the position)."""
        os.makedirs(self.backup_dir, exist_ok=True)
        arrays = {}
        counts = {}
        for group, variables in _variable_groups(self.model).items():
            counts[group] = len(variables)
            for index, variable in enumerate(variables):
                arrays[f"{group}_{_npz_name(index)}"] = _read(variable)
        state = {
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "variables": counts,
            "best": [getattr(c, "best", None) for c in self.checkpoints],
            "data_seed": self.data_seed,
        }
        arrays["state"] = np.array(json.dumps(state, default=float))
        # One file, replaced atomically: a kill during a save leaves the
        # previous state whole.
        _atomic_write(os.path.join(self.backup_dir, STATE_FILE), self._writer(arrays))
        self._last_save = time.monotonic()
        self._steps_since_save = 0

    @staticmethod
    def _writer(arrays):
        def write(path):
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)

        return write

    def _read(self):
        """``(state dict, {name: array})``, the file closed."""
        with np.load(os.path.join(self.backup_dir, STATE_FILE)) as saved:
            arrays = {name: saved[name] for name in saved.files}
        return json.loads(str(arrays.pop("state"))), arrays

    def load_position(self):
        """``(epoch, step, history, data_seed)`` of the saved state (or a fresh run)."""
        if not self.exists():
            return 0, 0, {}, None
        state, _ = self._read()
        return state["epoch"], state["step"], state["history"], state["data_seed"]

    def restore(self, model):
        """Assigns the saved variables to ``model`` (built and compiled).

        Metric accumulators are added after the resumed epoch's first step
        (see ``_add_saved_metrics``), so its metrics cover all its steps.
        """
        state, saved = self._read()
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        self._counts = state["variables"]
        groups = _variable_groups(model)
        for group in ("model", "optimizer"):
            variables = groups.get(group, [])
            self._check_count(group, len(variables))
            for index, variable in enumerate(variables):
                variable.assign(saved[f"{group}_{_npz_name(index)}"])
        # Metrics are built at fit's first step; they are added then.
        self._pending_metrics = [
            saved[f"metrics_{_npz_name(i)}"] for i in range(self._counts["metrics"])
        ]
        for checkpoint, best in zip(self.checkpoints, state["best"], strict=False):
            if best is not None:
                checkpoint.best = best
        self.epoch, self.step = state["epoch"], state["step"]
        self.history = state["history"]
        self.data_seed = state["data_seed"]

    def _check_count(self, group, count):
        if self._counts.get(group, 0) != count:
            raise ValueError(
                f"backup {self.backup_dir} holds {self._counts.get(group, 0)} "
                f"{group} variables, this run has {count}: it was written by "
                "another model or recipe; delete the folder to start over"
            )

    # -- callback ----------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._last_save = time.monotonic()
        if self.on_signals and threading.current_thread() is threading.main_thread():
            for number in (signal.SIGTERM, signal.SIGINT):
                self._previous_handlers[number] = signal.signal(number, self._on_signal)

    def on_train_end(self, logs=None):
        self.release_signals()

    def release_signals(self):
        """Puts back the signal handlers that were there before training."""
        for number, handler in self._previous_handlers.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        self._previous_handlers = {}

    def _stop_on_signal(self):
        if self._signal is not None:
            number, self._signal = self._signal, None
            self.release_signals()
            raise TrainingInterrupted(number, self.epoch, self.step, self.backup_dir)

    def _on_signal(self, number, frame):
        del frame
        self._signal = number

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if not self.step:
            self._pending_metrics = None

    def _add_saved_metrics(self):
        """Adds the saved epoch's metric sums to the first resumed step's.

        ``fit`` resets the metrics when the epoch begins and builds them at
        the first step, so they are restored right after it. Keras' metric
        states (totals, counts, true positives...) are sums, so adding gives
        the metrics of every step of the epoch.
        """
        variables = self.model.metrics_variables
        self._check_count("metrics", len(variables))
        for variable, value in zip(variables, self._pending_metrics, strict=True):
            variable.assign(variable.value + keras.ops.cast(value, variable.dtype))
        self._pending_metrics = None

    def on_train_batch_end(self, batch, logs=None):
        if self._pending_metrics is not None:
            self._add_saved_metrics()
        self.step += 1
        self._steps_since_save += 1
        # The epoch's last step is saved by on_epoch_end, after validation
        # and the checkpoints: a state "all steps done, epoch not ended"
        # would resume into an empty epoch.
        last = (
            self.params.get("steps") is not None and batch + 1 >= self.params["steps"]
        )
        if last:
            return
        due = self._signal is not None
        if self.every_steps and self._steps_since_save >= self.every_steps:
            due = True
        if self.every_minutes and (
            time.monotonic() - self._last_save >= 60.0 * self.every_minutes
        ):
            due = True
        if due:
            self.save()
        self._stop_on_signal()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        self.epoch, self.step = epoch + 1, 0
        self.save()
        self._stop_on_signal()
