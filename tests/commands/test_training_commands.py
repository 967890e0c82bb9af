"""Tests for the demo, train and evaluate commands."""

import json

from keras_slowfast import cli


def test_demo_compares_slowfast_and_slow_only(capsys):
    code = cli.main(
        [
            "demo",
            "--epochs",
            "1",
            "--train-clips",
            "16",
            "--test-clips",
            "8",
            "--batch-size",
            "8",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "SlowFast - Slow-only" in out and "Slow-only" in out
    assert "A new generated clip" in out


def test_train_then_evaluate_commands(tmp_path, capsys):
    config = {
        "model": {
            "stage_depths": [1, 1, 1, 1],
            "alpha": 4,
            "num_frames": 8,
            "num_classes": 8,
        },
        "data": {
            "type": "synthetic",
            "num_clips": 8,
            "num_validation_clips": 8,
            "num_frames": 8,
            "image_size": 32,
        },
        "training": {"epochs": 1, "warmup_epochs": 0, "batch_size": 8},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    assert cli.main(["train", "--config", str(path)]) == 0
    assert "validation top1" in capsys.readouterr().out
    code = cli.main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "run" / "model.keras"),
            "--config",
            str(path),
            "--output-dir",
            str(tmp_path / "eval"),
        ]
    )
    assert code == 0
    assert "top1:" in capsys.readouterr().out
    assert (tmp_path / "eval" / "confusion_matrix.png").exists()


def test_train_command_reports_a_missing_config(tmp_path, capsys):
    code = cli.main(["train", "--config", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "nope.yaml" in capsys.readouterr().err
