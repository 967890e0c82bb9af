"""Tests for the NumPy evaluation metrics."""

import csv

import cv2
import numpy as np
import pytest

from keras_slowfast.evaluation import metrics


def brute_force_ap(scores, targets):
    """AP from its definition: one threshold per distinct score, direct P and R."""
    total = 0.0
    previous_recall = 0.0
    for threshold in sorted(set(scores), reverse=True):
        chosen = scores >= threshold
        tp = np.sum(targets[chosen])
        precision = tp / np.sum(chosen)
        recall = tp / np.sum(targets)
        total += (recall - previous_recall) * precision
        previous_recall = recall
    return total


def test_top_k_accuracy():
    scores = np.array(
        [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]]
    )
    labels = np.array([1, 1, 0, 2])
    assert metrics.top_k_accuracy(scores, labels, 1) == pytest.approx(0.25)
    assert metrics.top_k_accuracy(scores, labels, 2) == pytest.approx(0.5)
    assert metrics.top_k_accuracy(scores, labels, 3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k=4"):
        metrics.top_k_accuracy(scores, labels, 4)
    with pytest.raises(ValueError, match="labels"):
        metrics.top_k_accuracy(scores, np.array([0, 1, 2, 3]), 1)


def test_average_precision_known_values():
    # Positives at ranks 1 and 3: AP = 0.5 * 1 + 0.5 * 2/3.
    ap = metrics.average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0])
    assert ap == pytest.approx(0.5 + 1 / 3)
    # Tied scores form one threshold (sklearn): 0.5 * 0.5 + 0.5 * 2/3.
    assert metrics.average_precision([0.5, 0.5, 0.2], [1, 0, 1]) == pytest.approx(
        0.25 + 1 / 3
    )
    assert np.isnan(metrics.average_precision([0.1, 0.2], [0, 0]))


def test_average_precision_matches_definition_on_random_data():
    rng = np.random.default_rng(3)
    for _ in range(20):
        scores = np.round(rng.random(40), 1)  # many ties
        targets = (rng.random(40) < 0.3).astype(int)
        targets[0] = 1
        assert metrics.average_precision(scores, targets) == pytest.approx(
            brute_force_ap(scores, targets)
        )


def test_mean_average_precision_skips_classes_without_positives():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.6], [0.4, 0.3, 0.1]])
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    value, per_class = metrics.mean_average_precision(scores, targets)
    assert per_class[0] == pytest.approx(1.0) and per_class[1] == pytest.approx(1.0)
    assert np.isnan(per_class[2])
    assert value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no class"):
        metrics.mean_average_precision(scores, np.zeros_like(targets))


def test_confusion_matrix_png_and_csv_report(tmp_path):
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 2, 0, 2]] + 0.01
    matrix = metrics.confusion_matrix(labels, scores.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    names = ["left", "right", "up"]
    path = tmp_path / "confusion.png"
    image = metrics.plot_confusion_matrix(matrix, str(path), names)
    read = cv2.imread(str(path))
    assert read is not None and read.shape == image.shape
    # A perfect diagonal paints the diagonal bright (viridis yellow) and the rest dark.
    assert image.std() > 10

    rows = metrics.per_class_report(scores, labels, names)
    assert [r["support"] for r in rows] == [2, 2, 3]
    assert rows[1]["recall"] == pytest.approx(1.0)
    assert rows[1]["precision"] == pytest.approx(2 / 3)
    assert rows[2]["recall"] == pytest.approx(2 / 3)
    csv_path = metrics.write_report_csv(rows, str(tmp_path / "report.csv"))
    with open(csv_path) as handle:
        read_rows = list(csv.DictReader(handle))
    assert read_rows[0]["name"] == "left" and len(read_rows) == 3
    assert float(read_rows[1]["precision"]) == pytest.approx(2 / 3, abs=1e-5)


def test_multilabel_report():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.3]])
    targets = np.array([[1, 0], [0, 1], [0, 1]])
    rows = metrics.multilabel_report(scores, targets, ["a", "b"])
    assert rows[1]["support"] == 2
    assert rows[0]["average_precision"] == pytest.approx(1.0)
