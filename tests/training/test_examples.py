"""Every example runs end to end on generated data with --smoke."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = [
    "train_kinetics_folder.py",
    "finetune_checkpoint.py",
    "charades_multilabel.py",
    "hyperparameter_search.py",
    "explain_motion.py",
]


@pytest.mark.parametrize("script", EXAMPLES)
def test_example_smoke(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", script), "--smoke"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
