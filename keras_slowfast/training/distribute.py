"""Distribution through ``tf.distribute``: strategies, chief/worker files, sync BN.

* One machine, one or more GPUs: ``MirroredStrategy`` (``make_strategy("mirrored")``).
* Several machines: ``MultiWorkerMirroredStrategy``, configured by the
  ``TF_CONFIG`` environment variable each worker sets (``{"cluster":
  {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker",
  "index": 0}}``). Create it at the very start of the program, before other
  TensorFlow work.
* Batch statistics are per replica by default; ``synchronize_batch_norm``
  switches every BatchNormalization layer of a model to statistics over the
  global batch (worth it when the per-replica batch is small).
* ``train()`` backs the run up (``training/resume.py``): start the killed
  job again with the same ``output_dir`` on every worker and each restores
  the same step (multi-worker runs back up by steps and at epoch ends).
"""

import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(kind="default", devices=None):
    """Returns a ``tf.distribute.Strategy``.

    Args:
        kind: str. ``"default"`` (no distribution), ``"mirrored"`` (all local
            GPUs, or ``devices``) or ``"multi_worker"`` (reads ``TF_CONFIG``).
        devices: list of device names for ``"mirrored"``, or None for all.
    """
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "distribution multi_worker needs the TF_CONFIG environment variable "
                '({"cluster": {"worker": [...]}, "task": {"type": "worker", '
                '"index": i}})'
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"distribution strategy={kind!r} must be one of {STRATEGIES}")


def strategy_from_config(distribution_config):
    """Strategy from a run config's ``distribution`` section (``strategy`` key)."""
    distribution_config = distribution_config or {}
    return make_strategy(
        distribution_config.get("strategy", "default"),
        distribution_config.get("devices"),
    )


def _task(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, 0
    return resolver.task_type, resolver.task_id or 0


def is_chief(strategy=None):
    """Whether this process writes the shared files (checkpoints, logs)."""
    task_type, task_id = _task(strategy or tf.distribute.get_strategy())
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0)


def worker_dir(output_dir, strategy=None):
    """A private folder under ``output_dir`` for a non-chief worker's files."""
    task_type, task_id = _task(strategy or tf.distribute.get_strategy())
    return os.path.join(output_dir, "workers", f"{task_type}_{task_id}")


def synchronize_batch_norm(model, synchronized=True):
    """Sets ``synchronized`` on every BatchNormalization layer of ``model``.

    With ``synchronized=True`` the batch mean and variance are all-reduced
    across replicas during training (Keras 3, TensorFlow backend), as SyncBN
    does in PySlowFast. The flag is read when the layer runs and is part of
    its config, so set it before training (before the first traced step); a
    saved model keeps it.

    Returns:
        The number of layers changed.
    """
    if synchronized and keras.config.backend() != "tensorflow":
        raise ValueError("synchronized batch norm needs the TensorFlow backend")
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = bool(synchronized)
            count += 1
    return count


_PATCHED = []


def patch_keras_multi_worker_logs():
    """Works around Keras 3 (3.15) reducing scalar logs under multi-worker training.

    ``fit()`` averages each step's logs across workers with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails for the scalar
    loss and metric values ("Invalid reduction dimension 0 for input with 0
    dimensions"). This wraps Keras' ``reduce_per_replica`` so that, under
    ``MultiWorkerMirroredStrategy`` only, scalars are averaged with
    ``axis=None``; every other case goes to the original function. Idempotent.
    """
    if _PATCHED:
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        if not multi_worker or reduction not in ("mean", "auto"):
            return original(values, strategy, reduction)

        def reduce_one(value):
            rank = getattr(getattr(value, "shape", None), "rank", None)
            if rank == 0 or (
                isinstance(value, tf.distribute.DistributedValues)
                and strategy.experimental_local_results(value)[0].shape.rank == 0
            ):
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return tf.nest.map_structure(reduce_one, values)

    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED.append(original)
