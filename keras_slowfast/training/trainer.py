"""``train()`` / ``evaluate()``: training entry points, as library calls and configs.

A run is described by a dict (or a YAML / JSON file) with four sections::

    model:    {preset: slowfast_8x8_r50, num_classes: 400}   # or backbone and
              # classifier arguments, or {factory: SlowOnly, ...}, or
              # {finetune_from: path}
    data:     {type: synthetic, num_clips: 512}           # or {type: folder,
              # train: DIR, validation: DIR, num_frames: 32, crop_size: 224}
    training: {epochs: 196, batch_size: 64, ...}          # TrainingRecipe fields
    output_dir: runs/slowfast                             # checkpoints, logs

``train_from_config(config)`` builds everything (inside the distribution
strategy's scope) and calls :func:`train`, which compiles the model with the
reference recipe and fits it with ModelCheckpoint, TensorBoard and a
``resume.Backup``, so a killed job started again with the same output folder
resumes at the step of its last backup, on the same trajectory.
"""

import dataclasses
import inspect
import json
import logging
import os

import keras
import numpy as np
import tensorflow as tf

from keras_slowfast.models import factories
from keras_slowfast.models.loading import load_model
from keras_slowfast.models.precision import computes_in_float16, with_dtype
from keras_slowfast.models.zoo import is_zoo_name, zoo_entry
from keras_slowfast.training import distribute, resume
from keras_slowfast.training.image_summaries import ImageSummaries
from keras_slowfast.training.recipe import (
    TrainingRecipe,
    build_loss,
    build_metrics,
    build_optimizer,
    mixed_precision_policy,
)

logger = logging.getLogger("keras_slowfast")

CONFIG_SECTIONS = (
    "model",
    "data",
    "training",
    "output_dir",
    "distribution",
    "seed",
    "tensorboard_images",
    "backup",
)
BACKUP_KEYS = ("every_steps", "every_minutes")
FACTORIES = {
    "SlowFast": factories.SlowFast,
    "SlowFastR50": factories.SlowFastR50,
    "SlowFastR101": factories.SlowFastR101,
    "SlowOnly": factories.SlowOnly,
    "FastOnly": factories.FastOnly,
}


def load_config(path):
    """Reads a run config from a ``.yaml`` / ``.yml`` (PyYAML) or ``.json`` file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ValueError(
                f"{path}: reading YAML needs PyYAML (pip install pyyaml); "
                "or write the config as JSON"
            ) from None
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"{path}:{where}: not valid YAML ({problem})") from None
    elif path.endswith(".json"):
        try:
            config = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
    else:
        raise ValueError(f"config file {path} must end in .yaml, .yml or .json")
    return check_config(config, source=path)


MODEL_FORMS = ("preset", "factory", "path", "finetune_from", "freeze_backbone")
MODEL_ARGUMENTS = ("name", "dtype")
DISTRIBUTION_KEYS = ("strategy", "devices", "sync_batch_norm")


def _keyword_names(function):
    return {
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        and name != "self"
    }


def _check_keys(section, given, valid):
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(
            f"{section}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}"
        )


def _check_model_section(model, source):
    valid = factories.classifier_argument_names() | set(MODEL_FORMS + MODEL_ARGUMENTS)
    if "factory" in model and model["factory"] in FACTORIES:
        valid |= _keyword_names(FACTORIES[model["factory"]])
    if "finetune_from" in model:
        from keras_slowfast.training.finetune import finetune_model

        valid |= _keyword_names(finetune_model)
    _check_keys(f"{source}: model", model, valid)
    for key in ("path", "finetune_from"):
        if key == "finetune_from" and is_zoo_name(model.get(key)):
            continue  # a weighted preset, downloaded when the model is built
        if key in model and not os.path.isfile(str(model[key])):
            raise FileNotFoundError(
                f"{source}: model.{key} {model[key]}: file not found"
            )


def _check_data_section(data, source):
    from keras_slowfast.data import datasets, synthetic

    kind = data.get("type", "synthetic")
    if kind == "synthetic":
        valid = _keyword_names(synthetic.make_motion_dataset) - {"normalize"}
        valid |= {"type", "num_clips", "num_validation_clips"}
    elif kind == "folder":
        valid = {f.name for f in dataclasses.fields(datasets.VideoDataConfig)}
        valid |= {"type", "train", "validation", "crop_size"}
        for key in ("train", "validation"):
            if data.get(key) and not os.path.isdir(str(data[key])):
                raise FileNotFoundError(
                    f"{source}: data.{key} {data[key]}: folder not found"
                )
    else:
        raise ValueError(
            f"{source}: data.type={kind!r} must be 'synthetic' or 'folder'"
        )
    _check_keys(f"{source}: data ({kind})", data, valid)


def check_config(config, source="config"):
    """Checks a run config before anything runs; returns it.

    Unknown sections and keys are errors naming them and the valid ones, and
    every path (model files, data folders) must exist, so a typo stops the
    job at once rather than after hours of training.
    """
    if not isinstance(config, dict):
        raise ValueError(
            f"{source}: expected a mapping of sections, got {type(config)}"
        )
    _check_keys(source, config, CONFIG_SECTIONS)
    for section in ("model", "data"):
        if not isinstance(config.get(section), dict):
            raise ValueError(f"{source}: section {section!r} (a mapping) is required")
    _check_model_section(config["model"], source)
    _check_data_section(config["data"], source)
    _check_keys(
        f"{source}: distribution", config.get("distribution") or {}, DISTRIBUTION_KEYS
    )
    _check_keys(f"{source}: backup", config.get("backup") or {}, BACKUP_KEYS)
    TrainingRecipe.from_dict(config.get("training", {}))
    images = config.get("tensorboard_images", 0)
    if isinstance(images, bool) or not isinstance(images, int) or images < 0:
        raise ValueError(
            f"{source}: tensorboard_images={images!r} must be an integer >= 0 "
            "(validation clips shown with heat maps each epoch)"
        )
    return config


def build_model(model_config, recipe=None):
    """Builds a model from the ``model`` section of a run config.

    Forms: ``{preset: NAME, **overrides}``; ``{factory: SlowOnly, **kwargs}``
    (SlowFast, SlowFastR50, SlowFastR101, SlowOnly, FastOnly); backbone and
    classifier arguments together; ``{path: model.keras}`` to continue from a
    saved model; or ``{finetune_from: PATH, num_classes: N, freeze_backbone: bool}``.
    A weighted preset (``{preset: slowfast_8x8_r50_kinetics400, num_classes: N}``,
    or as ``finetune_from``) starts from the published weights, with a new
    head when ``num_classes`` differs from the preset's.
    The recipe's ``dropout_rate`` is used unless the section sets its own.
    """
    config = dict(model_config)
    if "path" in config:
        return load_model(config.pop("path"))
    if is_zoo_name(config.get("preset")):
        return _pretrained_model(config)
    if "finetune_from" in config:
        from keras_slowfast.training.finetune import finetune_model

        if "num_classes" not in config:
            raise ValueError("model.finetune_from needs model.num_classes")
        return finetune_model(
            config.pop("finetune_from"),
            config.pop("num_classes"),
            freeze_backbone=config.pop("freeze_backbone", False),
            **config,
        )
    if recipe is not None:
        config.setdefault("dropout_rate", recipe.dropout_rate)
    if "preset" in config:
        return factories.from_preset(config.pop("preset"), **config)
    if "factory" in config:
        name = config.pop("factory")
        if name not in FACTORIES:
            raise ValueError(
                f"model.factory={name!r} must be one of {sorted(FACTORIES)}"
            )
        return FACTORIES[name](**config)
    return factories.classifier_from_arguments(**config)


def _pretrained_model(config):
    """``{preset: WEIGHTED, num_classes: N, freeze_backbone: bool}``: the
    published model, with a new head when ``num_classes`` differs."""
    from keras_slowfast.models.pretrained import load_pretrained
    from keras_slowfast.training.finetune import finetune_model

    name = config.pop("preset")
    num_classes = config.pop("num_classes", None)
    freeze = bool(config.pop("freeze_backbone", False))
    if config:
        raise ValueError(
            f"model.preset {name!r} is a weighted preset: it takes num_classes and "
            f"freeze_backbone, not {', '.join(sorted(config))}"
        )
    model = load_pretrained(name)
    if (num_classes is None or int(num_classes) == model.num_classes) and not freeze:
        return model
    return finetune_model(
        model, num_classes or model.num_classes, freeze_backbone=freeze
    )


def _steps_per_epoch(dataset):
    cardinality = int(dataset.cardinality())
    if cardinality < 1:
        raise ValueError(
            "steps_per_epoch is needed for a dataset of unknown or infinite "
            f"length (cardinality {cardinality})"
        )
    return cardinality


def _as_dataset(data, batch_size):
    """(x, y) arrays -> batched tf.data.Dataset, in order."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError("data must be a tf.data.Dataset or an (x, y) pair of arrays")
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"data has {len(x)} clips but {len(y)} labels")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def compile_model(model, recipe, steps_per_epoch):
    """Compiles ``model`` with the recipe's optimizer, loss and metrics."""
    if not model.built:
        raise ValueError("model must be built before compile_model")
    from_logits = getattr(model, "activation", None) is None
    optimizer = build_optimizer(model, recipe, steps_per_epoch)
    if computes_in_float16(model):  # mixed_float16: scale the loss
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=build_loss(recipe, from_logits=from_logits),
        metrics=build_metrics(recipe, getattr(model, "num_classes", None)),
    )
    return model


def _epoch_source(data, batch_size, seed):
    """Training data as an object whose ``dataset(epoch, skip)`` is one epoch."""
    if hasattr(data, "dataset") and not isinstance(data, tf.data.Dataset):
        return data  # e.g. VideoEpochs from a folder config
    if isinstance(data, tf.data.Dataset):
        return resume.DatasetEpochs(data)
    if callable(data):
        return resume.FunctionEpochs(data)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            "train_data must be a tf.data.Dataset, an (x, y) pair of arrays or a "
            "function epoch -> dataset"
        )
    return resume.ArrayEpochs(*data, batch_size=batch_size, seed=seed)


class _RunCallbacks(keras.callbacks.CallbackList):
    """One run's callbacks across its per-epoch ``fit`` calls.

    ``on_train_begin`` runs once before the first epoch and ``on_train_end``
    once after the last (``end_run``), so callbacks whose state spans epochs
    (EarlyStopping, ReduceLROnPlateau, TensorBoard, the History) see one run.
    """

    def __init__(self, callbacks, model, verbose, epochs):
        super().__init__(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=model,
            verbose=verbose,
            epochs=epochs,
            steps=None,
        )
        self._began = False
        self.history = next(
            c for c in self.callbacks if isinstance(c, keras.callbacks.History)
        )

    def on_train_begin(self, logs=None):
        if not self._began:
            self._began = True
            super().on_train_begin(logs)

    def on_train_end(self, logs=None):
        del logs  # the run ends in end_run, not with each epoch's fit

    def end_run(self, logs=None):
        if self._began:  # a finished run started again trains no epoch
            super().on_train_end(logs)


def _known_length(dataset):
    length = int(dataset.cardinality())
    return length if length >= 0 else None


def train(
    model,
    train_data,
    *,
    validation_data=None,
    recipe=None,
    output_dir=None,
    steps_per_epoch=None,
    strategy=None,
    schedule_steps_per_epoch=None,
    callbacks=(),
    checkpoints=True,
    tensorboard=True,
    backup=True,
    backup_every_steps=None,
    backup_every_minutes=10.0,
    image_summaries=0,
    class_names=None,
    seed=0,
    verbose="auto",
):
    """Trains a model with the reference recipe; returns the Keras ``History``.

    With an ``output_dir``, training survives preemption: the whole state is
    backed up during epochs (``backup_every_steps``, ``backup_every_minutes``,
    at each epoch's end, and on SIGTERM/SIGINT, after which
    :class:`~keras_slowfast.training.resume.TrainingInterrupted` is raised),
    and the same call with the same ``output_dir`` continues at the step it
    reached, on the same trajectory (same batches, learning rate, optimizer
    slots, dropout state, metric accumulators; see ``training/resume.py``).
    A finished run called again returns its history without training.

    Args:
        model: a ``keras.Model``, or a function of no arguments returning one.
            With a ``strategy``, pass the function: the model must be created
            inside the strategy's scope, which this call opens.
        train_data: an ``(x, y)`` pair of arrays (batched with
            ``recipe.batch_size`` in a per-epoch order drawn from ``(seed,
            epoch)``), a ``VideoEpochs`` (a folder config's training data), a
            function ``epoch -> tf.data.Dataset``, or a ``tf.data.Dataset`` of
            batched ``(clip, target)`` pairs (a mid-epoch resume skips the
            batches done in a fresh pass of it: exact only if its order does
            not depend on earlier passes).
        validation_data: ``(x, y)`` arrays or a dataset, or None.
        recipe: ``TrainingRecipe`` or dict of its fields (defaults: reference).
        output_dir: str or None. Receives ``checkpoints/`` (ModelCheckpoint:
            ``last.keras`` every epoch and ``best.keras`` on validation),
            ``logs/`` (TensorBoard), ``backup/`` (the resumable state) and
            ``recipe.json``. Without it no files are written and nothing resumes.
        steps_per_epoch: int or None. Needed for datasets of unknown length;
            converts the recipe's epochs to schedule steps.
        strategy: ``tf.distribute.Strategy`` or None.
        schedule_steps_per_epoch: int or None. Steps per epoch used only to
            lay out the learning-rate schedule, for a dataset of unknown length
            that ``fit`` should still run to its end (e.g. one that skips
            corrupt videos); defaults to ``steps_per_epoch``.
        callbacks: extra Keras callbacks.
        checkpoints, tensorboard, backup: bool. Which file callbacks to add.
        backup_every_steps: int or None. Also back up every this many steps.
        backup_every_minutes: float or None. Back up when this much time has
            passed since the last backup (default 10: a preemption loses at
            most about 10 minutes). Multi-worker runs back up by steps only
            (each worker must save at the same steps).
        image_summaries: int. With ``tensorboard``, ``output_dir`` and
            validation data: each epoch, TensorBoard images (``logs/images``)
            of this many validation clips' Grad-CAM heat maps, the confusion
            matrix and per-class accuracy (or AP); 0 writes none. See
            :class:`~keras_slowfast.training.image_summaries.ImageSummaries`.
        class_names: list of str or None. Names in those images.
        seed: int. Order seed of ``(x, y)`` training arrays.
        verbose: Keras verbosity (progress bars by default).

    Returns:
        ``keras.callbacks.History`` of all epochs (those before a resume
        included); the trained model is ``history.model``.

    Raises:
        TrainingInterrupted: a SIGTERM or SIGINT arrived; the state is saved.
    """
    if recipe is None:
        recipe = TrainingRecipe()
    elif isinstance(recipe, dict):
        recipe = TrainingRecipe.from_dict(recipe)
    strategy = strategy or tf.distribute.get_strategy()
    if validation_data is not None and not isinstance(validation_data, tf.data.Dataset):
        validation_data = _as_dataset(validation_data, recipe.batch_size)
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    all_callbacks = list(callbacks)
    backup_callback = None
    start_epoch, start_step, past_history, data_seed = 0, 0, {}, None
    best_checkpoints = []
    if output_dir:
        chief = distribute.is_chief(strategy)
        # Non-chief workers write to a private folder so files never collide.
        write_dir = output_dir if chief else distribute.worker_dir(output_dir, strategy)
        os.makedirs(write_dir, exist_ok=True)
        if chief:
            with open(os.path.join(output_dir, "recipe.json"), "w") as handle:
                json.dump(recipe.to_dict(), handle, indent=2)
        if checkpoints:
            folder = os.path.join(write_dir, "checkpoints")
            os.makedirs(folder, exist_ok=True)
            all_callbacks.append(
                keras.callbacks.ModelCheckpoint(os.path.join(folder, "last.keras"))
            )
            if validation_data is not None:
                best_checkpoints.append(
                    keras.callbacks.ModelCheckpoint(
                        os.path.join(folder, "best.keras"),
                        monitor="val_loss",
                        save_best_only=True,
                    )
                )
                all_callbacks.extend(best_checkpoints)
        if tensorboard:
            all_callbacks.append(
                keras.callbacks.TensorBoard(os.path.join(write_dir, "logs"))
            )
            if image_summaries and validation_data is not None and chief:
                all_callbacks.append(
                    ImageSummaries(
                        os.path.join(write_dir, "logs", "images"),
                        validation_data,
                        num_clips=image_summaries,
                        class_names=class_names,
                        multi_label=recipe.multi_label,
                    )
                )
        if backup:
            if multi_worker:
                # Every worker must save at the same steps: no timer, and no
                # signal handling (a signal reaches workers at different steps).
                logger.info(
                    "multi-worker run: backups %s and at epoch ends only",
                    f"every {backup_every_steps} steps"
                    if backup_every_steps
                    else "(set backup every_steps for mid-epoch ones)",
                )
                backup_every_minutes = None
            # Last, so it sees the checkpoints' updated best values.
            backup_callback = resume.Backup(
                os.path.join(write_dir, "backup"),
                every_steps=backup_every_steps,
                every_minutes=backup_every_minutes,
                on_signals=not multi_worker,
                checkpoints=best_checkpoints,
            )
            start_epoch, start_step, past_history, data_seed = (
                backup_callback.load_position()
            )
            all_callbacks.append(backup_callback)

    source = _epoch_source(train_data, recipe.batch_size, seed)
    if data_seed is not None and getattr(source, "seed", None) is not None:
        source.seed = data_seed  # the run's order, even if drawn at random
    if backup_callback is not None:
        backup_callback.data_seed = getattr(source, "seed", None)
    steps = (
        schedule_steps_per_epoch
        or steps_per_epoch
        or getattr(source, "steps_per_epoch", None)
        or _steps_per_epoch(source.dataset(0))
    )
    with strategy.scope():
        if not isinstance(model, keras.Model):
            if not callable(model):
                raise ValueError(
                    "model must be a keras.Model or a function returning one"
                )
            model = model()
        compile_model(model, recipe, steps)
        if backup_callback is not None and backup_callback.exists():
            backup_callback.restore(model)
            if start_epoch >= recipe.epochs:
                logger.info("%s: this run had finished; nothing to train", output_dir)
            else:
                logger.info(
                    "resuming from %s at epoch %d, step %d",
                    backup_callback.backup_dir,
                    start_epoch + 1,
                    start_step,
                )

    if multi_worker:
        # Keras 3 fit() first reduces one nested (clip, label) batch with
        # strategy.reduce to build the model symbolically; the multi-worker
        # strategy rejects nested values. The model is built and compiled
        # already, so skip that step: fit() then takes the strategy from the
        # scope below and distributes the data and steps as usual.
        model._distribute_strategy = None
        model.jit_compile = False
        distribute.patch_keras_multi_worker_logs()
    run_callbacks = _RunCallbacks(all_callbacks, model, verbose, recipe.epochs)
    # One fit() per epoch: a resumed epoch starts at its step, and every
    # epoch's batches come from (seed, epoch) alone.
    try:
        for epoch in range(start_epoch, recipe.epochs):
            skip = start_step if epoch == start_epoch else 0
            data = source.dataset(epoch, skip)
            epoch_steps = None if steps_per_epoch is None else steps_per_epoch - skip
            run_callbacks.set_params(
                {
                    "verbose": verbose,
                    "epochs": recipe.epochs,
                    "steps": epoch_steps or _known_length(data),
                }
            )
            with strategy.scope():
                model.fit(
                    data,
                    validation_data=validation_data,
                    initial_epoch=epoch,
                    epochs=epoch + 1,
                    steps_per_epoch=epoch_steps,
                    callbacks=run_callbacks,
                    verbose=verbose,
                    shuffle=False,  # the epoch's order is already drawn
                )
            if model.stop_training:  # EarlyStopping, TerminateOnNaN...
                break
        run_callbacks.end_run()
    finally:
        if backup_callback is not None:
            backup_callback.release_signals()
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = {name: list(values) for name, values in past_history.items()}
    for name, values in run_callbacks.history.history.items():
        history.history.setdefault(name, []).extend(values)
    history.epoch = list(range(start_epoch)) + list(
        getattr(run_callbacks.history, "epoch", [])
    )
    return history


def predict_scores(model, data, verbose="auto"):
    """Scores of a model on ``data``: ``(scores, targets)`` as NumPy arrays."""
    if isinstance(data, tf.data.Dataset):
        scores, targets = [], []
        for clips, batch_targets in data:
            scores.append(np.asarray(model(clips, training=False)))
            targets.append(np.asarray(batch_targets))
        if not scores:
            raise ValueError("the evaluation dataset is empty")
        return np.concatenate(scores), np.concatenate(targets)
    x, y = data
    return np.asarray(model.predict(x, verbose=verbose)), np.asarray(y)


def evaluate(model, data, *, multi_label=False, class_names=None, output_dir=None):
    """Evaluates a model: top-1/top-5 (single-label) or mAP (multi-label).

    One clip per video is scored here; for the reference 10x3 multi-view test
    average the view scores per video first (``evaluation.multiview``) and
    pass the averaged scores to the ``evaluation.metrics`` functions.

    Args:
        model: ``keras.Model``.
        data: ``tf.data.Dataset`` of ``(clip, target)`` batches or ``(x, y)``.
        multi_label: bool. Targets are multi-hot vectors; report mAP.
        class_names: list of str or None.
        output_dir: str or None. Writes ``confusion_matrix.png`` (single-label),
            ``per_class.csv`` and ``metrics.json`` there.

    Returns:
        dict of metric name -> float (``top1``, ``top5`` or ``mAP``, and
        ``num_videos``).
    """
    from keras_slowfast.evaluation import metrics

    scores, targets = predict_scores(model, data, verbose=0)
    num_classes = scores.shape[1]
    if multi_label:
        value, _ = metrics.mean_average_precision(scores, targets)
        results = {"mAP": value, "num_videos": len(scores)}
        rows = metrics.multilabel_report(scores, targets, class_names)
    else:
        labels = targets.reshape(-1).astype(np.int64)
        results = {
            "top1": metrics.top_k_accuracy(scores, labels, 1),
            "top5": metrics.top_k_accuracy(scores, labels, min(5, num_classes)),
            "num_videos": len(scores),
        }
        rows = metrics.per_class_report(scores, labels, class_names)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        metrics.write_report_csv(rows, os.path.join(output_dir, "per_class.csv"))
        if not multi_label:
            matrix = metrics.confusion_matrix(labels, scores.argmax(1), num_classes)
            metrics.plot_confusion_matrix(
                matrix, os.path.join(output_dir, "confusion_matrix.png"), class_names
            )
        with open(os.path.join(output_dir, "metrics.json"), "w") as handle:
            json.dump(results, handle, indent=2)
    return results


def model_input_convention(model_config):
    """The input convention of the model a config's ``model`` section names.

    Read without building the model: a ``.keras`` file's saved preprocessor
    (``path`` / ``finetune_from``), else ``input_convention`` or a
    ``preprocessor`` in the section, else None (the default convention).
    """
    from keras_slowfast.models.loading import saved_input_convention
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    source = str(model_config.get("path") or model_config.get("finetune_from") or "")
    weighted = model_config.get("preset") or model_config.get("finetune_from")
    if is_zoo_name(weighted):
        return {"channel_order": zoo_entry(weighted)["input"]["channel_order"]}
    if source.endswith(".keras") and os.path.isfile(source):
        return saved_input_convention(source)
    preprocessor = model_config.get("preprocessor")
    if isinstance(preprocessor, VideoPreprocessor):
        return preprocessor.input_convention
    return model_config.get("input_convention")


def build_datasets(data_config, recipe, input_context=None, input_convention=None):
    """``(train, validation, class_names, steps)`` from a config's ``data`` section.

    ``steps`` is the number of training batches per epoch when the dataset
    cannot tell (None otherwise).

    Clips are normalized with ``input_convention`` (the model's; see
    :func:`model_input_convention`), None for the default.

    ``type: synthetic`` — the built-in moving-shape task
    (``keras_slowfast.data.synthetic``; keys ``num_clips``,
    ``num_validation_clips``, ``seed``, ``num_frames``, ``image_size``).
    ``type: folder`` — class-per-folder video trees ``train`` and
    ``validation`` (see :func:`keras_slowfast.training.folder_data`).
    """
    config = dict(data_config)
    kind = config.pop("type", "synthetic")
    if kind == "synthetic":
        from keras_slowfast.data import synthetic

        num_clips = config.pop("num_clips", 256)
        num_validation = config.pop("num_validation_clips", max(8, num_clips // 4))
        seed = config.pop("seed", 0)
        from keras_slowfast.models.preprocessor import VideoPreprocessor

        preprocessor = VideoPreprocessor.from_convention(input_convention)

        def make(count, seed):
            clips, labels = synthetic.make_motion_dataset(
                count, seed=seed, normalize=False, **config
            )
            return synthetic.normalize_clip(clips, preprocessor), labels

        train_data = make(num_clips, seed)
        validation = make(num_validation, seed + 1_000_003)
        return train_data, validation, list(synthetic.MOTION_CLASSES), None
    if kind == "folder":
        from keras_slowfast.training.folder_data import folder_datasets

        if input_convention is not None:
            config.setdefault("input_convention", input_convention)
        return folder_datasets(config, recipe.batch_size, input_context=input_context)
    raise ValueError(f"data.type={kind!r} must be 'synthetic' or 'folder'")


RUN_CONFIG = "run_config.json"


def _flat(value, prefix=""):
    if isinstance(value, dict):
        items = {}
        for key, inner in value.items():
            items.update(_flat(inner, f"{prefix}{key}."))
        return items
    return {prefix.rstrip("."): value}


def claim_output_dir(config, output_dir, chief=True):
    """Ties ``output_dir`` to one run config (``run_config.json`` in it).

    A folder that holds a run of the same config resumes it; one that holds a
    run of another config is an error, so a changed config never silently
    returns (or continues) the old run.

    Raises:
        ValueError: naming the folder and the keys that differ.
    """
    normalized = json.loads(json.dumps(config, sort_keys=True, default=str))
    path = os.path.join(output_dir, RUN_CONFIG)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            previous = json.load(handle)
        old, new = _flat(previous), _flat(normalized)
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed:
            shown = ", ".join(changed[:5]) + (", ..." if len(changed) > 5 else "")
            raise ValueError(
                f"{output_dir} holds a run of another config (differs in {shown}); "
                "give another output_dir, or delete the folder to start over"
            )
        return
    if chief:
        os.makedirs(output_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(normalized, handle, indent=1)


def record_training_inputs(model, class_names, data_config, strict=True):
    """Saves with ``model`` what it is trained on: its class names and, for
    folder data, how clips are read (sampling rate, short side, crop), so
    prediction, explanation and export use them by default.

    Args:
        model: the task model about to be trained.
        class_names: list of str or None. The data's classes, in label order.
        data_config: dict. The config's ``data`` section.
        strict: bool. A class count that differs from ``model.num_classes``
            is an error (folder data); else the names are not recorded.

    Raises:
        ValueError: with ``strict``, the data has a different number of
            classes than the model, named with both counts.
    """
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    num_classes = getattr(model, "num_classes", None)
    if class_names is not None and num_classes is not None:
        if len(class_names) == num_classes:
            model.class_names = list(class_names)
        elif strict:
            shown = ", ".join(class_names[:6]) + (
                ", ..." if len(class_names) > 6 else ""
            )
            raise ValueError(
                f"model.num_classes={num_classes} but the data has "
                f"{len(class_names)} classes ({shown}); set model.num_classes: "
                f"{len(class_names)}"
            )
    if data_config.get("type") == "folder" and hasattr(model, "preprocessor"):
        from keras_slowfast.training.folder_data import folder_input_settings

        model.preprocessor = VideoPreprocessor.from_convention(
            model.preprocessor.input_convention, **folder_input_settings(data_config)
        )


def train_from_config(config, verbose="auto", callbacks=()):
    """Runs a whole training job described by a config dict or file path.

    Started again with the same ``output_dir`` after a kill or a SIGTERM, it
    resumes at the step it reached (see :func:`train`).

    Args:
        config: dict or path of a YAML / JSON file (see the module docstring).
        verbose: Keras verbosity.
        callbacks: extra Keras callbacks for ``fit``.

    Returns:
        ``(model, history, results)``: ``results`` is :func:`evaluate` on the
        validation split (empty when there is none).
    """
    if isinstance(config, str):
        config = load_config(config)
    else:
        config = check_config(config)
    recipe = TrainingRecipe.from_dict(config.get("training", {}))
    if "seed" in config:
        keras.utils.set_random_seed(int(config["seed"]))
    strategy = distribute.strategy_from_config(config.get("distribution"))
    if config.get("output_dir"):
        claim_output_dir(config, config["output_dir"], distribute.is_chief(strategy))
    train_data, validation, class_names, steps = build_datasets(
        config["data"],
        recipe,
        input_convention=model_input_convention(config["model"]),
    )
    distribution = config.get("distribution") or {}
    sync_bn = bool(distribution.get("sync_batch_norm", False))

    folder = config["data"].get("type") == "folder"

    def make_model():
        model = build_model(config["model"], recipe)
        record_training_inputs(model, class_names, config["data"], strict=folder)
        if recipe.mixed_precision:
            # By argument, not the global policy; the head stays float32:
            # logits in float16/bfloat16 lose precision in the softmax and
            # metrics such as top-k accuracy.
            model = with_dtype(
                model,
                mixed_precision_policy(True),
                head_dtype="float32",
            )
        if sync_bn:
            distribute.synchronize_batch_norm(model)
        return model

    output_dir = config.get("output_dir")
    backup_config = config.get("backup") or {}
    history = train(
        make_model,
        train_data,
        validation_data=validation,
        recipe=recipe,
        output_dir=output_dir,
        strategy=strategy,
        schedule_steps_per_epoch=steps,
        image_summaries=config.get("tensorboard_images", 0),
        class_names=class_names,
        seed=int(config.get("seed", 0)),
        backup_every_steps=backup_config.get("every_steps"),
        backup_every_minutes=backup_config.get("every_minutes", 10.0),
        callbacks=callbacks,
        verbose=verbose,
    )
    model = history.model
    results = {}
    if validation is not None:
        results = evaluate(
            model,
            validation,
            multi_label=recipe.multi_label,
            class_names=class_names,
            output_dir=os.path.join(output_dir, "evaluation") if output_dir else None,
        )
    if output_dir and distribute.is_chief(strategy):
        model.save(os.path.join(output_dir, "model.keras"))
    return model, history, results
