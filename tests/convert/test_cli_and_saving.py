"""The ``convert`` command and saving converted models (fresh-process reloads)."""

import collections
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import torch

from keras_slowfast import cli
from keras_slowfast.convert import convert_checkpoint
from keras_slowfast.models import SlowFastVideoClassifier, load_model
from tests.convert.tiny import random_clip, tiny_model, torch_named_state_dict

# These tests read and write torch checkpoints (the "torch" extra).
pytestmark = pytest.mark.torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code_or_args, cwd=ROOT):
    """Runs the project's Python in a fresh process with the worktree on the path."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, *code_or_args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def reference():
    return tiny_model()


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory):
    """A PySlowFast-style checkpoint file of the tiny reference model."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny_slowfast.pyth"
    state = {
        k: torch.from_numpy(v) for k, v in torch_named_state_dict(reference).items()
    }
    torch.save({"model_state": state, "epoch": 1}, path)
    return path


def test_converted_model_reloads_in_a_fresh_process(checkpoint, reference, tmp_path):
    model = convert_checkpoint(str(checkpoint), num_frames=8, progress=False)
    path = tmp_path / "converted.keras"
    model.save(path)
    clip = random_clip(seed=3)
    np.save(tmp_path / "clip.npy", clip)
    code = (
        "import numpy as np, keras, keras_slowfast\n"
        f"model = keras.saving.load_model({str(path)!r})\n"
        "assert type(model).__name__ == 'SlowFastVideoClassifier', type(model)\n"
        f"clip = np.load({str(tmp_path / 'clip.npy')!r})\n"
        "out = np.asarray(model(clip, training=False))\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, out)\n"
        "print(model.input_convention)\n"
    )
    result = _python(["-c", code])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'channel_order': 'rgb'" in result.stdout
    reloaded = np.load(tmp_path / "out.npy")
    expected = np.asarray(reference(clip, training=False))
    np.testing.assert_allclose(reloaded, expected, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(model(clip, training=False)), reloaded, atol=1e-6
    )


def test_cli_convert_writes_a_keras_file(checkpoint, reference, tmp_path):
    output = tmp_path / "out" / "tiny.keras"
    result = _python(
        [
            "-m",
            "keras_slowfast",
            "convert",
            "--source",
            "pyslowfast",
            "--num-frames",
            "8",
            "--channel-order",
            "bgr",
            str(checkpoint),
            str(output),
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {output}" in result.stdout
    assert "weight" in result.stdout  # the progress bar over the weights
    model = keras.saving.load_model(output)
    assert isinstance(model, SlowFastVideoClassifier)
    assert model.input_convention["channel_order"] == "bgr"
    clip = random_clip(seed=4)
    np.testing.assert_allclose(
        np.asarray(model(clip, training=False)),
        np.asarray(reference(clip, training=False)),
        atol=1e-6,
    )


def test_cli_convert_writes_weights_and_config(checkpoint, reference, tmp_path, capsys):
    output = tmp_path / "tiny.weights.h5"
    code = cli.main(["convert", "--num-frames", "8", str(checkpoint), str(output)])
    assert code == 0
    config_path = tmp_path / "tiny.config.json"
    assert f"architecture: {config_path}" in capsys.readouterr().out
    model = load_model(output)  # finds tiny.config.json beside it
    clip = random_clip(seed=5)
    np.testing.assert_allclose(
        np.asarray(model(clip, training=False)),
        np.asarray(reference(clip, training=False)),
        atol=1e-6,
    )


def test_cli_convert_errors_are_one_line(checkpoint, tmp_path, capsys):
    assert cli.main(["convert", str(checkpoint), str(tmp_path / "out.h5")]) == 2
    assert "error: output=" in capsys.readouterr().err
    unsafe = tmp_path / "unsafe.pyth"
    torch.save({"model_state": {}, "extra": collections.Counter(a=1)}, unsafe)
    assert cli.main(["convert", str(unsafe), str(tmp_path / "out.keras")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "--trust-checkpoint" in error
    assert "collections.Counter" in error and len(error.strip().splitlines()) == 1
    missing = tmp_path / "missing.pyth"
    assert cli.main(["convert", str(missing), str(tmp_path / "out.keras")]) == 2
    assert "missing.pyth" in capsys.readouterr().err
