"""Model files in the keras_slowfast 0.1 layout, written by the tests."""

import json
import zipfile

import h5py
import numpy as np


def write_0_1_file(task, path, class_name):
    """Writes ``task`` as keras_slowfast 0.1 did: one flat model, flat config.

    0.1 models held the backbone's layers and the head in one functional
    model, so its weights file is the backbone's own layout plus the head's
    group (``classification_head`` / ``detection_head``), and its config the
    backbone arguments plus the head arguments (``head_activation``) and the
    ``input_convention``.
    """
    backbone_config = task.backbone.get_config()
    head_config = {
        k: v
        for k, v in task.get_config().items()
        if k not in ("backbone", "preprocessor", "activation", "dtype")
    }
    config = {
        **backbone_config,
        **head_config,
        "head_activation": task.activation,
        "input_convention": task.input_convention,
    }
    if class_name == "SlowFastNet":
        config.update(include_top=True, pooling="avg")
    weights = path.with_suffix(".h5")
    task.backbone.save_weights(str(weights.with_suffix(".weights.h5")))
    head_group = (
        "classification_head" if class_name == "SlowFastNet" else "detection_head"
    )
    with h5py.File(weights.with_suffix(".weights.h5"), "a") as handle:
        proj = handle["layers"].create_group(head_group).create_group("proj")
        group = proj.create_group("vars")
        for index, variable in enumerate(task.head.proj.weights):
            group.create_dataset(str(index), data=np.asarray(variable))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "config.json",
            json.dumps(
                {
                    "module": "keras_slowfast.models.slowfast",
                    "class_name": class_name,
                    "config": config,
                    "registered_name": f"keras_slowfast>{class_name}",
                }
            ),
        )
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.0"}))
        archive.write(weights.with_suffix(".weights.h5"), "model.weights.h5")
