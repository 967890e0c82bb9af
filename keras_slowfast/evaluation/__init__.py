"""Evaluation: multi-view testing of classifiers and AVA frame-level detection mAP."""

from keras_slowfast.evaluation.ava_map import (
    AVAEvaluation,
    box_iou,
    evaluate_ava,
    evaluate_ava_rows,
    voc_average_precision,
)
from keras_slowfast.evaluation.multiview import MultiviewResult, evaluate_multiview

__all__ = [
    "AVAEvaluation",
    "MultiviewResult",
    "box_iou",
    "evaluate_ava",
    "evaluate_ava_rows",
    "evaluate_multiview",
    "voc_average_precision",
]
