"""``evaluate``: score a saved model: top-1/top-5 or mAP, confusion matrix, CSV."""

HELP = "Evaluate a saved .keras model on the data of a config (metrics, PNG, CSV)."


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="saved model (.keras)")
    parser.add_argument(
        "--config",
        required=True,
        help="run config whose data section gives the validation set",
    )
    parser.add_argument(
        "--output-dir",
        default=None,
        help="folder for confusion_matrix.png, per_class.csv, metrics.json",
    )


def run(args):
    from keras_slowfast.models.loading import load_model
    from keras_slowfast.training import trainer
    from keras_slowfast.training.recipe import TrainingRecipe

    config = trainer.load_config(args.config)
    recipe = TrainingRecipe.from_dict(config.get("training", {}))
    model = load_model(args.model)
    _, validation, class_names, _ = trainer.build_datasets(
        config["data"], recipe, input_convention=model.input_convention
    )
    if validation is None:
        raise ValueError(f"{args.config}: the data section has no validation set")
    results = trainer.evaluate(
        model,
        validation,
        multi_label=recipe.multi_label,
        class_names=class_names,
        output_dir=args.output_dir,
    )
    for name, value in results.items():
        print(
            f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}"
        )
    if args.output_dir:
        print(f"report in {args.output_dir}")
    return 0
