"""Evaluation: metrics (top-k, mAP, confusion matrix, per-class reports)."""

from keras_slowfast.evaluation.metrics import (
    average_precision,
    confusion_matrix,
    mean_average_precision,
    multilabel_report,
    per_class_report,
    plot_confusion_matrix,
    top_k_accuracy,
    write_report_csv,
)

__all__ = [
    "average_precision",
    "confusion_matrix",
    "mean_average_precision",
    "multilabel_report",
    "per_class_report",
    "plot_confusion_matrix",
    "top_k_accuracy",
    "write_report_csv",
]
