"""Evaluation: classification metrics (top-k, mAP, confusion matrix, per-class
reports), multi-view testing of classifiers and AVA frame-level detection mAP."""

from keras_slowfast.evaluation.ava_map import (
    AVAEvaluation,
    box_iou,
    evaluate_ava,
    evaluate_ava_rows,
    voc_average_precision,
)
from keras_slowfast.evaluation.metrics import (
    average_precision,
    confusion_matrix,
    mean_average_precision,
    multilabel_report,
    per_class_report,
    plot_confusion_matrix,
    plot_per_class,
    top_k_accuracy,
    write_report_csv,
)
from keras_slowfast.evaluation.multiview import MultiviewResult, evaluate_multiview

__all__ = [
    "AVAEvaluation",
    "MultiviewResult",
    "average_precision",
    "box_iou",
    "confusion_matrix",
    "evaluate_ava",
    "evaluate_ava_rows",
    "evaluate_multiview",
    "mean_average_precision",
    "multilabel_report",
    "per_class_report",
    "plot_confusion_matrix",
    "plot_per_class",
    "top_k_accuracy",
    "voc_average_precision",
    "write_report_csv",
]
