"""Every ``python -m keras_slowfast`` command is listed and has ``--help``."""

import os
import subprocess
import sys

import pytest

from keras_slowfast import cli


def test_every_registered_command_has_help(capsys):
    assert {"export", "predict"} <= set(cli.COMMANDS)
    for name in sorted(cli.COMMANDS):
        module = cli._load(name)
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, "--help"])
        assert exit_info.value.code == 0, name
        out = capsys.readouterr().out
        assert out.startswith(f"usage: python -m keras_slowfast {name}"), out
        # argparse rewraps the description; compare words.
        assert " ".join(module.HELP.split()) in " ".join(out.split()), name


def test_bare_command_lists_commands_with_help():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_slowfast"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    text = " ".join(result.stdout.split())
    for name in cli.COMMANDS:
        help_words = " ".join(cli._load(name).HELP.split())
        assert f"{name} {help_words[:30]}" in text, (name, result.stdout)


def test_a_missing_optional_extra_is_one_line(monkeypatch, capsys):
    module = cli._load("info")

    def missing_extra(args):
        raise ImportError("ONNX export needs tf2onnx: pip install keras_slowfast[onnx]")

    monkeypatch.setattr(module, "run", missing_extra)
    assert cli.main(["info"]) == 2
    assert capsys.readouterr().err == (
        "error: ONNX export needs tf2onnx: pip install keras_slowfast[onnx]\n"
    )

    def broken(args):
        raise ImportError("cannot import name 'x' from 'y'")

    monkeypatch.setattr(module, "run", broken)
    with pytest.raises(ImportError, match="cannot import name"):
        cli.main(["info"])
