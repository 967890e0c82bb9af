"""Evaluation metrics in NumPy: top-k accuracy, mAP, confusion matrix, reports.

These functions take the scores a model produced (one row per video, already
averaged over views when multi-view testing is used) and the ground truth; they
do not depend on TensorFlow, so they can score predictions from anywhere.
"""

import csv
import os

import cv2
import numpy as np


def _scores_and_labels(scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(
            f"scores must be (num_videos, num_classes), got {scores.shape}"
        )
    if labels.shape != (scores.shape[0],):
        raise ValueError(
            f"labels must be ({scores.shape[0]},) integer classes, got {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(
            f"labels must be in [0, {scores.shape[1]}), "
            f"got {labels.min()}..{labels.max()}"
        )
    return scores, labels.astype(np.int64)


def top_k_accuracy(scores, labels, k=1):
    """Fraction of videos whose true class is among the ``k`` highest scores.

    Ties are broken in favour of the lower class index (a stable sort), so the
    result does not depend on chance.

    Args:
        scores: array ``(num_videos, num_classes)``. Logits or probabilities.
        labels: int array ``(num_videos,)``.
        k: int. How many top classes count.

    Returns:
        float in [0, 1].
    """
    scores, labels = _scores_and_labels(scores, labels)
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k={k} must be in [1, num_classes={scores.shape[1]}]")
    if not len(labels):
        raise ValueError("no videos to score (scores is empty)")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == labels[:, None], axis=1)))


def average_precision(scores, targets):
    """Average precision of one class, as ``sklearn.metrics.average_precision_score``.

    ``AP = sum_n (R_n - R_(n-1)) P_n`` over the distinct score thresholds in
    decreasing order, where ``P_n`` and ``R_n`` are the precision and recall of
    predicting positive every score >= the n-th threshold (no interpolation).

    Args:
        scores: float array ``(num_videos,)``.
        targets: 0/1 array ``(num_videos,)``.

    Returns:
        float, or NaN when there is no positive.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    targets = np.asarray(targets).reshape(-1)
    if scores.shape != targets.shape:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} differ")
    positives = float(np.sum(targets > 0))
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores = scores[order]
    hits = (targets[order] > 0).astype(np.float64)
    # The last index of each run of equal scores is one threshold.
    last = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_positives = np.cumsum(hits)[last]
    predicted = last + 1.0
    precision = true_positives / predicted
    recall = true_positives / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores, targets):
    """Mean AP over the classes with at least one positive (Charades convention).

    Args:
        scores: array ``(num_videos, num_classes)``.
        targets: multi-hot 0/1 array of the same shape.

    Returns:
        ``(mAP, per_class_ap)``: a float and an array with NaN for classes that
        have no positive (they are left out of the mean).
    """
    scores = np.asarray(scores, np.float64)
    targets = np.asarray(targets)
    if scores.ndim != 2 or scores.shape != targets.shape:
        raise ValueError(
            f"scores {scores.shape} and targets {targets.shape} must both be "
            "(num_videos, num_classes)"
        )
    per_class = np.array(
        [average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    )
    if np.all(np.isnan(per_class)):
        raise ValueError("no class has a positive video; mAP is undefined")
    return float(np.nanmean(per_class)), per_class


def confusion_matrix(labels, predictions, num_classes):
    """Counts ``matrix[true, predicted]`` as an int64 array ``(C, C)``."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    predictions = np.asarray(predictions, np.int64).reshape(-1)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"labels {labels.shape} and predictions {predictions.shape} differ"
        )
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must be in [0, {num_classes})")
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def plot_confusion_matrix(matrix, path=None, class_names=None, cell_size=None):
    """Writes a confusion matrix as a PNG heat map, drawn with OpenCV.

    Rows are true classes, columns predictions; each row is normalized to its
    recall so classes of different sizes compare, and the raw count is printed
    in the cell when the cell is large enough. With many classes (Kinetics'
    400) the picture is the pattern of the heat map; the exact numbers are in
    the CSV report.

    Args:
        matrix: int array ``(C, C)`` from :func:`confusion_matrix`.
        path: str or None. Output ``.png`` file; None only returns the image.
        class_names: list of C strings, or None for indices.
        cell_size: int or None. Pixels per cell (None picks one from C).

    Returns:
        The image as a uint8 BGR array.
    """
    matrix = np.asarray(matrix)
    num_classes = matrix.shape[0]
    if matrix.shape != (num_classes, num_classes):
        raise ValueError(f"matrix must be square, got {matrix.shape}")
    names = [str(n) for n in (class_names or range(num_classes))]
    if len(names) != num_classes:
        raise ValueError(
            f"class_names has {len(names)} names for {num_classes} classes"
        )
    cell = cell_size or max(4, min(48, 1200 // max(num_classes, 1)))
    show_text = cell >= 28
    show_names = cell >= 10
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 0.4
    margin = 20 + (
        max(cv2.getTextSize(n, font, scale, 1)[0][0] for n in names) + 10
        if show_names
        else 0
    )
    size = margin + cell * num_classes + 10
    image = np.full((size + 30, size, 3), 255, np.uint8)
    rows = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    rates = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    shades = cv2.applyColorMap((rates * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    for i in range(num_classes):
        for j in range(num_classes):
            x0, y0 = margin + j * cell, margin + i * cell
            colour = tuple(int(c) for c in shades[i, j])
            cv2.rectangle(image, (x0, y0), (x0 + cell - 1, y0 + cell - 1), colour, -1)
            if show_text and matrix[i, j]:
                text_colour = (0, 0, 0) if rates[i, j] > 0.5 else (255, 255, 255)
                cv2.putText(
                    image,
                    str(matrix[i, j]),
                    (x0 + 3, y0 + cell // 2 + 4),
                    font,
                    scale,
                    text_colour,
                    1,
                    cv2.LINE_AA,
                )
    if show_names:
        for k, name in enumerate(names):
            center = margin + k * cell + cell // 2 + 4
            cv2.putText(
                image, name, (5, center), font, scale, (0, 0, 0), 1, cv2.LINE_AA
            )
        # Column names, written horizontally then rotated into place.
        strip = np.full((margin, num_classes * cell, 3), 255, np.uint8)
        strip = np.ascontiguousarray(np.rot90(strip, -1))
        for k, name in enumerate(names):
            cv2.putText(
                strip,
                name,
                (5, k * cell + cell // 2 + 4),
                font,
                scale,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
        image[:margin, margin : margin + num_classes * cell] = np.rot90(strip, 1)
    cv2.putText(
        image,
        "rows: true class, columns: predicted (row-normalized)",
        (5, size + 20),
        font,
        scale,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    if path is not None:
        _write_png(path, image)
    return image


def _write_png(path, image):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise ValueError(f"{path}: could not write the PNG (is the extension .png?)")


def plot_per_class(values, path=None, class_names=None, title="per-class accuracy"):
    """Draws one horizontal bar per class (values in [0, 1]) with OpenCV.

    Args:
        values: float array ``(C,)`` in [0, 1] (accuracy, AP); NaN draws no
            bar and prints "n/a" (a class without examples).
        path: str or None. Output ``.png`` file; None only returns the image.
        class_names: list of C strings, or None for indices.
        title: str. Written above the bars.

    Returns:
        The image as a uint8 BGR array.
    """
    values = np.asarray(values, np.float64).reshape(-1)
    names = [str(n) for n in (class_names or range(len(values)))]
    if len(names) != len(values):
        raise ValueError(f"class_names has {len(names)} names for {len(values)} values")
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    row = 16 if len(values) <= 60 else 4
    label_width = (
        max(cv2.getTextSize(n, font, scale, 1)[0][0] for n in names) + 10
        if row >= 12
        else 0
    )
    bar_width = 300
    image = np.full(
        (30 + row * len(values) + 10, label_width + bar_width + 60, 3), 255, np.uint8
    )
    cv2.putText(image, title, (5, 18), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    colours = cv2.applyColorMap(
        (np.nan_to_num(values).clip(0, 1) * 255).astype(np.uint8)[:, None],
        cv2.COLORMAP_VIRIDIS,
    )
    for k, value in enumerate(values):
        y = 30 + k * row
        if row >= 12:
            cv2.putText(
                image,
                names[k],
                (5, y + row - 4),
                font,
                scale,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
        if np.isnan(value):
            text = "n/a"
        else:
            end = label_width + int(round(bar_width * min(max(value, 0.0), 1.0)))
            colour = tuple(int(c) for c in colours[k, 0])
            cv2.rectangle(image, (label_width, y + 1), (end, y + row - 2), colour, -1)
            text = f"{value:.0%}"
        if row >= 12:
            cv2.putText(
                image,
                text,
                (label_width + bar_width + 5, y + row - 4),
                font,
                scale,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
    if path is not None:
        _write_png(path, image)
    return image


def per_class_report(scores, labels, class_names=None):
    """Per-class rows for a single-label evaluation.

    Args:
        scores: array ``(num_videos, num_classes)``.
        labels: int array ``(num_videos,)``.
        class_names: list of names or None.

    Returns:
        List of dicts with ``class``, ``name``, ``support``, ``precision``,
        ``recall`` (= per-class top-1 accuracy), ``f1``, ``top5_recall`` and
        ``average_precision`` (one-vs-rest AP of the class's scores).
    """
    scores, labels = _scores_and_labels(scores, labels)
    num_classes = scores.shape[1]
    names = (
        list(class_names)
        if class_names is not None
        else [str(c) for c in range(num_classes)]
    )
    if len(names) != num_classes:
        raise ValueError(
            f"class_names has {len(names)} names for {num_classes} classes"
        )
    predictions = np.argmax(scores, axis=1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    top5 = np.argsort(-scores, axis=1, kind="stable")[:, : min(5, num_classes)]
    in_top5 = np.any(top5 == labels[:, None], axis=1)
    rows = []
    for c in range(num_classes):
        support = int(matrix[c].sum())
        predicted = int(matrix[:, c].sum())
        hits = int(matrix[c, c])
        precision = hits / predicted if predicted else 0.0
        recall = hits / support if support else float("nan")
        f1 = (
            2 * precision * recall / (precision + recall)
            if support and precision + recall
            else 0.0
        )
        rows.append(
            {
                "class": c,
                "name": names[c],
                "support": support,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "top5_recall": float(np.mean(in_top5[labels == c]))
                if support
                else float("nan"),
                "average_precision": average_precision(scores[:, c], labels == c),
            }
        )
    return rows


def multilabel_report(scores, targets, class_names=None):
    """Per-class rows of a multi-label evaluation: support and average precision."""
    _, per_class = mean_average_precision(scores, targets)
    targets = np.asarray(targets)
    names = (
        list(class_names)
        if class_names is not None
        else [str(c) for c in range(len(per_class))]
    )
    return [
        {
            "class": c,
            "name": names[c],
            "support": int(targets[:, c].sum()),
            "average_precision": float(ap),
        }
        for c, ap in enumerate(per_class)
    ]


def write_report_csv(rows, path):
    """Writes report rows (dicts with the same keys) as a CSV file with a header."""
    if not rows:
        raise ValueError("no report rows to write")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()}
            )
    return path
