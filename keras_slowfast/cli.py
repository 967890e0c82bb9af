"""``python -m keras_slowfast COMMAND``: the command-line entry point.

Each command lives in ``keras_slowfast/commands/<name>.py`` and provides
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Command modules import heavy dependencies (TensorFlow, torch) inside ``run``,
so building the parser and ``--help`` stay fast.
"""

import argparse
import importlib
import logging
import sys

# command name -> module under keras_slowfast.commands
COMMANDS = {
    "ava-eval": "ava_eval",
    "convert": "convert",
    "demo": "demo",
    "detect": "detect",
    "evaluate": "evaluate",
    "explain": "explain",
    "export": "export",
    "info": "info",
    "predict": "predict",
    "train": "train",
}

# Errors a user can fix; printed as one line instead of a traceback.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    IsADirectoryError,
    PermissionError,
)


def _load(name):
    return importlib.import_module(f"keras_slowfast.commands.{COMMANDS[name]}")


def build_parser():
    """The argument parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_slowfast",
        description="SlowFast video networks for Keras 3: "
        + ", ".join(sorted(COMMANDS))
        + ". Run a command with --help for its options.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in sorted(COMMANDS):
        module = _load(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
    return parser


def _show_info_messages():
    """The package's INFO messages (resuming, scaled defaults) on stderr."""
    logger = logging.getLogger("keras_slowfast")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv=None):
    """Runs one command; returns its exit code (2 for a user error)."""
    _show_info_messages()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    try:
        return int(_load(args.command).run(args) or 0)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        if "pip install" not in str(error):
            raise  # a broken install, not a missing optional extra
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
