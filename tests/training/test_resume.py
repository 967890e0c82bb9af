"""Preemption: killed or signalled runs resume on the uninterrupted trajectory."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from tests.training.test_distribute import free_ports

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JOB = os.path.join(HERE, "resume_job.py")
STEPS = 18  # 3 epochs of 6 steps


def _env(**extra):
    return {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _job(output_dir, *args, env=None):
    return subprocess.Popen(
        [sys.executable, JOB, str(output_dir), *args],
        env=env or _env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, err


def _result(output_dir, task=0):
    saved = np.load(os.path.join(output_dir, f"result_{task}.npz"))
    weights = [saved[f"w{i}"] for i in range(len(saved.files) - 1)]
    return json.loads(str(saved["history"])), weights


def _assert_same_run(got, expected):
    history, weights = got
    expected_history, expected_weights = expected
    assert sorted(history) == sorted(expected_history)
    for name, values in expected_history.items():
        assert len(history[name]) == 3, (name, history[name])
        np.testing.assert_allclose(history[name], values, rtol=1e-5, atol=1e-6)
    for a, b in zip(weights, expected_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    code, err = _finish(_job(folder))
    assert code == 0, err[-3000:]
    return _result(folder)


def test_two_uninterrupted_runs_agree(uninterrupted, tmp_path):
    code, err = _finish(_job(tmp_path))
    assert code == 0, err[-3000:]
    _assert_same_run(_result(tmp_path), uninterrupted)
    assert min(uninterrupted[0]["loss"]) < uninterrupted[0]["loss"][0]


@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_at_a_random_step_then_resume(uninterrupted, tmp_path, seed):
    stop = int(np.random.default_rng(seed).integers(4, STEPS))  # inside an epoch
    code, err = _finish(_job(tmp_path, "--stop-at", str(stop)))
    assert code == -signal.SIGKILL, err[-3000:]
    state = np.load(tmp_path / "backup" / "state.npz")
    position = json.loads(str(state["state"]))
    # Backups every 3 steps (epochs are 6): the last one before the kill,
    # which comes after step `stop` but before that step's backup.
    assert 6 * position["epoch"] + position["step"] == 3 * ((stop - 1) // 3)
    code, err = _finish(_job(tmp_path))
    assert code == 0, err[-3000:]
    assert "resuming from" in err or position["step"] == 0
    _assert_same_run(_result(tmp_path), uninterrupted)


def test_sigterm_saves_the_step_it_reached(uninterrupted, tmp_path):
    stop = 8  # epoch 2, step 2: not a backup step
    code, err = _finish(_job(tmp_path, "--stop-at", str(stop), "--signal", "TERM"))
    assert code == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM received: state saved" in err and "epoch 2, step 2" in err
    code, err = _finish(_job(tmp_path))
    assert code == 0, err[-3000:]
    _assert_same_run(_result(tmp_path), uninterrupted)


def test_sigterm_from_outside_to_the_train_command(tmp_path):
    """The CLI as a scheduler sees it: SIGTERM at some moment, exit 143, resume."""
    config = {
        "model": {"stage_depths": [1, 1, 1, 1], "num_frames": 8, "num_classes": 8},
        "data": {"type": "synthetic", "num_clips": 24, "num_validation_clips": 8,
                 "num_frames": 8, "image_size": 32},
        "training": {"epochs": 3, "batch_size": 4, "reference_batch_size": 4},
        "seed": 0,
    }  # fmt: skip
    command = [sys.executable, "-m", "keras_slowfast", "train", "--config"]
    runs = {}
    for name in ("whole", "stopped"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**config, "output_dir": str(tmp_path / name)}))
        runs[name] = [*command, str(path)]
    whole = subprocess.run(runs["whole"], env=_env(), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-3000:]
    process = subprocess.Popen(
        runs["stopped"], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    # Once the first epoch's backup exists training is under way: stop it
    # during the second or third epoch.
    backup = tmp_path / "stopped" / "backup" / "state.npz"
    while not backup.exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "stopped: SIGTERM received: state saved" in err
    again = subprocess.run(runs["stopped"], env=_env(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    summaries = [
        [
            line
            for line in result.stdout.splitlines()
            if line.startswith(("trained ", "validation "))
        ]
        for result in (whole, again)
    ]
    assert summaries[0][0].startswith("trained 3 epochs; final loss")
    assert summaries[0] == summaries[1]
    import keras

    models = [
        keras.saving.load_model(tmp_path / run / "model.keras", compile=False)
        for run in ("whole", "stopped")
    ]
    for a, b in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_two_workers_killed_and_resumed(tmp_path):
    def cluster_run(folder, *args):
        ports = free_ports(2)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        processes = [
            _job(folder, "--multi-worker", *args,
                 env=_env(TF_CONFIG=json.dumps(
                     {"cluster": cluster, "task": {"type": "worker", "index": i}})))
            for i in range(2)
        ]  # fmt: skip
        return [_finish(p) for p in processes]

    whole = cluster_run(tmp_path / "whole")
    assert all(code == 0 for code, _ in whole), whole
    stopped = tmp_path / "stopped"
    killed = cluster_run(stopped, "--stop-at", "11")
    assert all(code == -signal.SIGKILL for code, _ in killed), killed
    resumed = cluster_run(stopped)
    assert all(code == 0 for code, _ in resumed), resumed
    for task in range(2):
        _assert_same_run(_result(stopped, task), _result(tmp_path / "whole", task))


def test_array_epochs_depend_on_seed_and_epoch_only():
    from keras_slowfast.training.resume import ArrayEpochs

    x = np.arange(10, dtype="float32")[:, None]
    epochs = ArrayEpochs(x, np.arange(10), batch_size=4, seed=3)
    first = [b[1].numpy().tolist() for b in epochs.dataset(1)]
    assert sorted(sum(first, [])) == list(range(10)) and len(first) == 3
    again = ArrayEpochs(x, np.arange(10), batch_size=4, seed=3)
    assert [b[1].numpy().tolist() for b in again.dataset(1, skip_batches=1)] == first[
        1:
    ]
    assert [b[1].numpy().tolist() for b in epochs.dataset(2)] != first


def test_finished_runs_return_and_foreign_backups_are_refused(tmp_path):
    import keras

    from keras_slowfast.data import synthetic
    from keras_slowfast.models.factories import classifier_from_arguments
    from keras_slowfast.training import trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    data = synthetic.make_motion_dataset(8, seed=0, num_frames=8, image_size=32)
    recipe = TrainingRecipe(epochs=2, batch_size=4)
    options = dict(recipe=recipe, output_dir=str(tmp_path), verbose=0)

    def tiny(**kwargs):
        return classifier_from_arguments(
            stage_depths=[1, 1, 1, 1], num_frames=8, num_classes=8, **kwargs
        )

    first = trainer.train(tiny(), data, **options)
    assert len(first.history["loss"]) == 2
    model = tiny()
    again = trainer.train(model, data, **options)  # nothing left to train
    assert again.history["loss"] == first.history["loss"]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4
    for a, b in zip(model.weights, first.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="written by another model or recipe"):
        trainer.train(tiny(nonlocal_blocks=[[], [0], [], []]), data, **options)


class _RecordedEpochs:
    """A training source that records which (epoch, skip, seed) it was asked for."""

    def __init__(self, data, batch_size, calls):
        from keras_slowfast.training.resume import ArrayEpochs

        self._arrays = ArrayEpochs(*data, batch_size=batch_size, seed=0)
        self.seed = int(np.random.SeedSequence().entropy % 1000) + 1
        self.calls = calls

    def dataset(self, epoch, skip_batches=0):
        self.calls.append((epoch, skip_batches, self.seed))
        self._arrays.seed = self.seed
        return self._arrays.dataset(epoch, skip_batches)


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("crash")


def _tiny_setup(batch_size=4):
    from keras_slowfast.data import synthetic
    from keras_slowfast.models.factories import classifier_from_arguments
    from keras_slowfast.training.recipe import TrainingRecipe

    data = synthetic.make_motion_dataset(8, seed=0, num_frames=8, image_size=32)

    def tiny():
        return classifier_from_arguments(
            stage_depths=[1, 1, 1, 1], num_frames=8, num_classes=8
        )

    return data, tiny, TrainingRecipe(epochs=3, batch_size=batch_size)


def test_a_random_data_seed_is_kept_by_the_backup(tmp_path):
    from keras_slowfast.training import trainer

    data, tiny, recipe = _tiny_setup(batch_size=2)  # 4 steps per epoch
    calls = []
    options = dict(recipe=recipe, output_dir=str(tmp_path), verbose=0)
    with pytest.raises(RuntimeError, match="crash"):
        trainer.train(
            tiny(), _RecordedEpochs(data, 2, calls), backup_every_steps=1,
            callbacks=[_StopAt(1, 2)], **options,
        )  # fmt: skip
    first_seed = calls[0][2]
    resumed = _RecordedEpochs(data, 2, calls)
    resumed.seed = first_seed + 1  # a new process draws another seed
    trainer.train(tiny(), resumed, backup_every_steps=1, **options)
    # Crashed after epoch 1's third step, saved after its second.
    assert calls[-2:] == [(1, 2, first_seed), (2, 0, first_seed)]


def test_no_backup_says_all_steps_done_before_the_epoch_ended(tmp_path):
    """A save at an epoch's last step would resume into an empty epoch."""
    import keras

    from keras_slowfast.training import trainer

    data, tiny, recipe = _tiny_setup()
    seen = []

    class DuringValidation(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            with np.load(tmp_path / "backup" / "state.npz") as saved:
                seen.append(json.loads(str(saved["state"]))["step"])

    trainer.train(
        tiny(), data, validation_data=data, recipe=recipe, output_dir=str(tmp_path),
        backup_every_steps=1, callbacks=[DuringValidation()], verbose=0,
    )  # fmt: skip
    assert seen == [1, 1, 1]  # 2 steps per epoch: step 1 saved, never step 2


def test_early_stopping_and_per_run_callbacks_span_the_epochs(tmp_path):
    import keras

    from keras_slowfast.training import trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    data, tiny, _ = _tiny_setup()
    recipe = TrainingRecipe(epochs=6, batch_size=4)
    begins = []

    class CountBegins(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            begins.append(1)

    # No epoch improves by min_delta over the first one, so it stops after the
    # second epoch, if its state lives across epochs. (A baseline alone is not
    # enough: EarlyStopping never stops in an epoch whose loss improved.)
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=1)
    history = trainer.train(
        tiny(), data, recipe=recipe, output_dir=str(tmp_path), verbose=0,
        callbacks=[stop, CountBegins()],
    )  # fmt: skip
    assert len(history.history["loss"]) == 2 and begins == [1]
