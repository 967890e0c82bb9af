"""One module per ``python -m keras_slowfast`` command (see ``keras_slowfast.cli``)."""
