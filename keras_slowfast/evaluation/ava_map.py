"""Frame-level AVA mAP at IoU 0.5, as the ActivityNet AVA evaluation computes it.

Per class: on each keyframe the detections (highest score first; at most
``max_detections_per_keyframe`` per keyframe over all classes, 50 in the
official tool) are matched greedily: a detection is a true positive when its
highest-IoU ground-truth box of that class has IoU >= 0.5 and is not yet taken,
otherwise a false positive (it does not fall back to a second box, as in the
PASCAL / TF Object Detection evaluation the AVA tool uses). Detections on
keyframes without ground truth are false positives. All detections of the
class are then ranked by score, and AP is the area under the
precision/recall curve with precision made monotone (PASCAL VOC 2010+).
Classes without ground truth have AP NaN and are left out of the mean.
Keyframes in the exclusions file are ignored in both files.
"""

import collections
import dataclasses
import math

import numpy as np

from keras_slowfast.data.ava import read_ava_rows, read_exclusions, read_label_map


def box_iou(boxes_a, boxes_b):
    """IoU matrix of ``(N, 4)`` and ``(M, 4)`` boxes ``x1, y1, x2, y2``.

    Areas are ``(x2 - x1) * (y2 - y1)`` (continuous coordinates, no +1, as
    the AVA tool).
    """
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, intersection / union, 0.0)
    return iou


def voc_average_precision(scores, is_true_positive, num_ground_truth):
    """PASCAL VOC AP of one class from ranked detections.

    Args:
        scores: ``(N,)`` detection scores.
        is_true_positive: ``(N,)`` bools.
        num_ground_truth: int. Ground-truth boxes of the class.

    Returns:
        float: area under the precision/recall curve with precision made
        monotone (non-increasing in recall); NaN when ``num_ground_truth`` is
        0; 0.0 when there are no detections.
    """
    if num_ground_truth <= 0:
        return float("nan")
    scores = np.asarray(scores, np.float64).reshape(-1)
    labels = np.asarray(is_true_positive, bool).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(
            f"scores {scores.shape} and is_true_positive {labels.shape} differ"
        )
    if scores.size == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    true_positives = np.cumsum(labels[order])
    false_positives = np.cumsum(~labels[order])
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / float(num_ground_truth)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


@dataclasses.dataclass
class AVAEvaluation:
    """Result of :func:`evaluate_ava`.

    Attributes:
        mean_ap: float. Mean of the per-class APs that are not NaN.
        per_class: dict ``{action_id: AP}`` (NaN: no ground truth).
        class_names: dict ``{action_id: name}`` (empty when no label map).
        num_ground_truth: dict ``{action_id: boxes}``.
        num_detections: dict ``{action_id: detections evaluated}``.
    """

    mean_ap: float
    per_class: dict
    class_names: dict
    num_ground_truth: dict
    num_detections: dict

    def table(self):
        """Per-class AP as aligned text lines, ending with the mAP."""
        lines = [f"{'id':>4}  {'AP@0.5':>7}  {'GT':>6}  {'det':>6}  name"]
        for action, ap in sorted(self.per_class.items()):
            shown = "    n/a" if math.isnan(ap) else f"{ap:7.4f}"
            lines.append(
                f"{action:>4}  {shown}  {self.num_ground_truth.get(action, 0):>6}  "
                f"{self.num_detections.get(action, 0):>6}  "
                f"{self.class_names.get(action, '')}"
            )
        lines.append(f"frame mAP@0.5IoU: {self.mean_ap:.4f}")
        return "\n".join(lines)


def evaluate_ava_rows(
    groundtruth,
    detections,
    *,
    class_ids=None,
    class_names=None,
    iou_threshold=0.5,
    max_detections_per_keyframe=50,
):
    """Frame-level AP per class from :class:`~keras_slowfast.data.ava.AVARow` lists.

    Args:
        groundtruth: list of ground-truth rows (``action_id`` set).
        detections: list of detection rows (``action_id`` and ``score``).
        class_ids: action ids to evaluate (the label map's); None = every
            id in either list.
        class_names: dict ``{action_id: name}`` for the report.
        iou_threshold: float. Match threshold (0.5).
        max_detections_per_keyframe: int or None. Keep only the best-scoring
            detections of each keyframe (50 in the ActivityNet tool).

    Returns:
        :class:`AVAEvaluation`.
    """
    if class_ids is None:
        class_ids = sorted(
            {r.action_id for r in list(groundtruth) + list(detections)} - {None}
        )
    class_ids = [int(c) for c in class_ids]
    wanted = set(class_ids)
    gt_boxes = collections.defaultdict(list)  # (key, action) -> boxes
    num_gt = collections.Counter()
    for row in groundtruth:
        if row.action_id in wanted:
            gt_boxes[(row.key, row.action_id)].append(row.box)
            num_gt[row.action_id] += 1
    per_keyframe = collections.defaultdict(list)
    for row in detections:
        if row.action_id in wanted:
            per_keyframe[row.key].append(row)
    scores = collections.defaultdict(list)
    hits = collections.defaultdict(list)
    for key, rows in per_keyframe.items():
        rows = sorted(rows, key=lambda r: -r.score)
        if max_detections_per_keyframe:
            rows = rows[: int(max_detections_per_keyframe)]
        by_class = collections.defaultdict(list)
        for row in rows:
            by_class[row.action_id].append(row)
        for action, class_rows in by_class.items():
            truth = gt_boxes.get((key, action), [])
            taken = np.zeros(len(truth), bool)
            iou = box_iou([r.box for r in class_rows], truth) if truth else None
            for i, row in enumerate(class_rows):
                hit = False
                if truth:
                    best = int(np.argmax(iou[i]))
                    if iou[i, best] >= iou_threshold and not taken[best]:
                        taken[best] = hit = True
                scores[action].append(row.score)
                hits[action].append(hit)
    per_class = {
        action: voc_average_precision(scores[action], hits[action], num_gt[action])
        for action in class_ids
    }
    valid = [ap for ap in per_class.values() if not math.isnan(ap)]
    mean_ap = float(np.mean(valid)) if valid else float("nan")
    return AVAEvaluation(
        mean_ap=mean_ap,
        per_class=per_class,
        class_names=dict(class_names or {}),
        num_ground_truth={a: int(num_gt[a]) for a in class_ids},
        num_detections={a: len(scores[a]) for a in class_ids},
    )


def evaluate_ava(
    groundtruth_csv,
    detections_csv,
    *,
    label_map=None,
    exclusions=None,
    iou_threshold=0.5,
    max_detections_per_keyframe=50,
):
    """Frame-level AVA mAP from CSV files (the ``ava-eval`` command).

    Args:
        groundtruth_csv: str. ``video_id, timestamp, x1, y1, x2, y2,
            action_id, person_id`` rows.
        detections_csv: str. ``video_id, timestamp, x1, y1, x2, y2,
            action_id, score`` rows.
        label_map: str or None. ``.pbtxt`` label map; its ids are the
            evaluated classes (e.g. the 60-class AVA list).
        exclusions: str or None. Exclusions CSV of keyframes to ignore.
        iou_threshold: float. Match threshold.
        max_detections_per_keyframe: int or None. See
            :func:`evaluate_ava_rows`.

    Returns:
        :class:`AVAEvaluation`.
    """
    names = read_label_map(label_map) if label_map else {}
    class_ids = sorted(names) if names else None
    excluded = read_exclusions(exclusions) if exclusions else set()
    groundtruth = read_ava_rows(
        groundtruth_csv, class_ids=class_ids, exclusions=excluded
    )
    detections = read_ava_rows(detections_csv, class_ids=class_ids, exclusions=excluded)
    if any(r.action_id is None for r in groundtruth):
        raise ValueError(f"{groundtruth_csv}: ground-truth rows need an action_id")
    if any(r.action_id is None for r in detections):
        raise ValueError(
            f"{detections_csv}: detection rows need an action_id (column 7)"
        )
    return evaluate_ava_rows(
        groundtruth,
        detections,
        class_ids=class_ids,
        class_names=names,
        iou_threshold=iou_threshold,
        max_detections_per_keyframe=max_detections_per_keyframe,
    )
