"""Evaluation: multi-view testing of video classifiers."""

from keras_slowfast.evaluation.multiview import MultiviewResult, evaluate_multiview

__all__ = ["MultiviewResult", "evaluate_multiview"]
