"""Every example runs with its default arguments far enough to build its model
and data (``tests/training/test_examples.py`` runs them with ``--smoke``).

Each script runs as ``python examples/NAME.py`` would (``runpy`` in this
process, which saves a TensorFlow start per script) with its defaults, the
paths it requires (generated here: tiny videos, a tiny fake checkpoint) and
the budget ``--max-steps``: one training step, or ``0`` (build the model and
the data, then stop) for ``train_kinetics_folder.py``, whose default is the
full 8x8 R50 at 64 clips of 32x224x224 per batch. Each check reads what the
script printed: the model and data it built from its defaults, and the one
step it trained.
"""

import json
import runpy
import sys
import tempfile
from pathlib import Path

import cv2
import keras
import pytest

from keras_slowfast.data import synthetic

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _train_kinetics_folder(folder):
    synthetic.write_motion_videos(folder / "k", 1, num_frames=16, image_size=32)
    arguments = ["--train", str(folder / "k"), "--max-steps", "0"]
    expected = [
        # The default preset, slowfast_8x8_r50, with a head for the 8 folders.
        "model: SlowFastVideoClassifier, 33,662,928 parameters, 32 frames, "
        "alpha 4, 8 classes",
        "data: training batches of clips (64, 32, 224, 224, 3)",
    ]
    return arguments, expected


def _finetune_checkpoint(folder):
    from tests.convert.tiny import tiny_model

    # A converted checkpoint as `convert NAME.weights.h5` writes it: the
    # weights and NAME.config.json beside them (here a tiny random model).
    source = tiny_model(image_size=[32, 32])
    source.save_weights(folder / "tiny.weights.h5")
    (folder / "tiny.config.json").write_text(json.dumps(source.get_config()))
    # 16 videos: one batch at the default batch size.
    synthetic.write_motion_videos(folder / "v", 2, num_frames=16, image_size=32)
    arguments = [
        "--weights",
        str(folder / "tiny.weights.h5"),
        "--num-classes",
        "8",
        "--train",
        str(folder / "v"),
        "--max-steps",
        "1",
    ]
    expected = [
        "new head: 8 classes",
        "data: training batches of clips (16, 8, 32, 32, 3)",
        "1/1 - ",
        "final loss after 1 step(s):",
    ]
    return arguments, expected


def _charades_multilabel(folder):
    expected = [
        "model: SlowFastVideoClassifier, ",
        "data: 320 training clips (16, 40, 40, 3), 80 validation clips, targets (6,)",
        "1/1 - ",
        "validation mAP: ",
    ]
    return ["--max-steps", "1"], expected


def _hyperparameter_search(folder):
    expected = [
        "data: 320 training clips (16, 40, 40, 3), 80 validation clips",
        "Trial 1 Complete",
        "1/1 - ",
        "best hyperparameters: {'alpha': ",
    ]
    return ["--max-steps", "1"], expected


def _explain_motion(folder):
    expected = [
        "data: 160 clips (16, 32, 32, 3)",
        "1/1 - ",
        "wrote grad_cam_motion.png (768x236)",
    ]
    return ["--max-steps", "1"], expected


def _check_picture(folder):
    image = cv2.imread(str(folder / "grad_cam_motion.png"))
    assert image is not None and image.shape == (236, 768, 3)


# Script -> (arguments and expected output lines, check of written files).
CASES = {
    "train_kinetics_folder.py": (_train_kinetics_folder, None),
    "finetune_checkpoint.py": (_finetune_checkpoint, None),
    "charades_multilabel.py": (_charades_multilabel, None),
    "hyperparameter_search.py": (_hyperparameter_search, None),
    "explain_motion.py": (_explain_motion, _check_picture),
}


def test_every_example_is_covered():
    assert sorted(CASES) == sorted(path.name for path in EXAMPLES.glob("*.py"))


def _run_script(path, arguments, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(path), *arguments])
    monkeypatch.setattr(sys, "path", list(sys.path))  # scripts prepend the repo
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(path), run_name="__main__")
    return exit_info.value.code


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs_with_its_defaults(script, tmp_path, monkeypatch, capsys):
    prepare, check = CASES[script]
    arguments, expected = prepare(tmp_path)
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        code = _run_script(EXAMPLES / script, arguments, monkeypatch)
    finally:
        keras.backend.clear_session()
    output = capsys.readouterr().out
    assert code in (0, None), output[-3000:]
    lines = [line.strip() for line in output.splitlines()]
    for text in expected:
        assert any(text in line for line in lines), (
            f"{script} did not print {text!r}:\n{output[-3000:]}"
        )
    if check is not None:
        check(tmp_path)
