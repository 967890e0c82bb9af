"""Evaluation: AVA frame-level detection mAP."""

from keras_slowfast.evaluation.ava_map import (
    AVAEvaluation,
    box_iou,
    evaluate_ava,
    evaluate_ava_rows,
    voc_average_precision,
)

__all__ = [
    "AVAEvaluation",
    "box_iou",
    "evaluate_ava",
    "evaluate_ava_rows",
    "voc_average_precision",
]
