"""``train``: run a training job described by a YAML or JSON config."""

import sys

HELP = "Train a SlowFast model from a YAML/JSON config (reference recipe defaults)."


def add_arguments(parser):
    parser.add_argument("--config", required=True, help="run config (.yaml or .json)")
    parser.add_argument(
        "--output-dir", default=None, help="override the config's output_dir"
    )
    parser.add_argument("--epochs", type=int, default=None, help="override epochs")


def run(args):
    from keras_slowfast.training import trainer

    config = trainer.load_config(args.config)
    if args.output_dir:
        config["output_dir"] = args.output_dir
    if args.epochs:
        training = dict(config.get("training", {}))
        training["epochs"] = args.epochs
        if "warmup_epochs" in training:  # unset, it scales with epochs
            training["warmup_epochs"] = min(training["warmup_epochs"], args.epochs)
        config["training"] = training
    from keras_slowfast.training.resume import TrainingInterrupted

    try:
        _, history, results = trainer.train_from_config(config)
    except TrainingInterrupted as stop:
        print(f"stopped: {stop}", file=sys.stderr)
        return stop.exit_code
    print(
        f"trained {len(history.history['loss'])} epochs; final loss "
        f"{history.history['loss'][-1]:.4f}"
    )
    for name, value in results.items():
        print(
            f"validation {name}: {value:.4f}"
            if isinstance(value, float)
            else f"validation {name}: {value}"
        )
    if config.get("output_dir"):
        print(f"outputs in {config['output_dir']}")
    return 0
