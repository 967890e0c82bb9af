"""Allows ``python -m keras_slowfast``."""

import os
import sys

# Quiet TensorFlow's C++ start-up logging for command-line use.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_slowfast.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
