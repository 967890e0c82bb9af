"""``python -m keras_slowfast export`` end to end (in process)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast import cli
from tests.tiny_models import tiny_task


# Keras' own .keras writer warns about numpy's copy keyword; not ours to fix.
@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
def test_export_command_writes_versions_and_reports_errors(tmp_path, capsys):
    model = tiny_task(3)
    weights = tmp_path / "tiny.keras"
    model.save(weights)
    labels = tmp_path / "labels.txt"
    labels.write_text("run\nwalk\nswim\n")
    base = tmp_path / "serving"
    args = ["export", "--weights", str(weights), "--output", str(base)]
    args += ["--short-side", "36", "--crop-size", "32", "--labels", str(labels)]
    assert cli.main(args) == 0
    assert f"exported {base / '1'}" in capsys.readouterr().out
    loaded = tf.saved_model.load(str(base / "1"))
    video = np.random.default_rng(0).integers(0, 256, (1, 8, 36, 50, 3), np.uint8)
    out = loaded.signatures["serving_default"](video=tf.constant(video))
    names = [n.decode() for n in out["top_k_names"].numpy()[0]]
    assert sorted(names) == ["run", "swim", "walk"]  # top_k capped at 3 classes

    assert cli.main(args + ["--version", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already exists" in err
    assert len(err.strip().splitlines()) == 1

    assert cli.main(args[:5] + ["--crop-size", "300"]) == 2
    assert "crop_size=300 must be <= short_side=256" in capsys.readouterr().err
