"""AVA frame-level mAP against hand-computed values."""

import math

import numpy as np
import pytest

from keras_slowfast.cli import main
from keras_slowfast.data.ava import AVARow
from keras_slowfast.evaluation import (
    box_iou,
    evaluate_ava,
    evaluate_ava_rows,
    voc_average_precision,
)

A = (0.1, 0.1, 0.4, 0.6)
B = (0.5, 0.2, 0.9, 0.9)
C = (0.0, 0.0, 0.2, 0.2)


def gt(video, ts, box, action):
    return AVARow(video, ts, box, action, 1.0, 0)


def det(video, ts, box, action, score):
    return AVARow(video, ts, box, action, score, None)


def test_perfect_detections_give_one():
    truth = [gt("v", 1, A, 1), gt("v", 1, B, 1), gt("v", 2, C, 2)]
    found = [det("v", 1, A, 1, 0.3), det("v", 1, B, 1, 0.9), det("v", 2, C, 2, 0.5)]
    result = evaluate_ava_rows(truth, found)
    assert result.per_class == {1: 1.0, 2: 1.0}
    assert result.mean_ap == 1.0


def test_missed_box_halves_recall():
    truth = [gt("v", 1, A, 1), gt("v", 1, B, 1)]
    result = evaluate_ava_rows(truth, [det("v", 1, A, 1, 0.9)])
    # precision 1 up to recall 1/2, nothing after: AP = 0.5
    assert result.per_class[1] == pytest.approx(0.5)


def test_duplicate_detection_is_a_false_positive():
    truth = [gt("v", 1, A, 1), gt("v", 1, B, 1)]
    found = [
        det("v", 1, A, 1, 0.9),  # TP
        det("v", 1, A, 1, 0.8),  # duplicate of A: FP
        det("v", 1, B, 1, 0.7),  # TP
    ]
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; monotone: 1, 2/3, 2/3
    # AP = 1/2 * 1 + 1/2 * 2/3
    result = evaluate_ava_rows(truth, found)
    assert result.per_class[1] == pytest.approx(0.5 + 1 / 3)


def test_false_positives_wrong_place_wrong_frame_and_class_without_truth():
    truth = [gt("v", 1, A, 1), gt("v", 1, B, 1), gt("w", 5, C, 1), gt("v", 1, A, 2)]
    found = [
        det("v", 1, A, 1, 0.9),  # TP
        det("v", 1, C, 1, 0.8),  # IoU(A, C) < 0.5: FP
        det("v", 3, B, 1, 0.75),  # keyframe without ground truth: FP
        det("w", 5, C, 1, 0.7),  # TP
        det("v", 1, A, 3, 0.6),  # class 3 has no ground truth
        det("v", 1, A, 2, 0.1),  # TP of class 2
    ]
    result = evaluate_ava_rows(truth, found)
    # class 1: TP FP FP TP, 3 GT: precision 1, .5, 1/3, .5 at recall 1/3 .. 2/3
    # monotone precision: 1, .5, .5, .5 -> AP = 1/3 * 1 + 1/3 * 1/2
    assert result.per_class[1] == pytest.approx(1 / 3 + 1 / 6)
    assert result.per_class[2] == 1.0
    assert math.isnan(result.per_class[3])
    assert result.mean_ap == pytest.approx((0.5 + 1.0) / 2)
    assert result.num_ground_truth == {1: 3, 2: 1, 3: 0}
    assert result.num_detections == {1: 4, 2: 1, 3: 1}
    table = result.table()
    assert "n/a" in table and "0.7500" in table


def test_iou_threshold_and_highest_iou_box_rule():
    inside = (0.1, 0.1, 0.4, 0.45)  # IoU with A = 0.35 / 0.5 = 0.7
    assert box_iou([inside], [A])[0, 0] == pytest.approx(0.7)
    truth = [gt("v", 1, A, 1)]
    assert evaluate_ava_rows(truth, [det("v", 1, inside, 1, 0.5)]).per_class[1] == 1.0
    result = evaluate_ava_rows(truth, [det("v", 1, inside, 1, 0.5)], iou_threshold=0.75)
    assert result.per_class[1] == 0.0
    # Two overlapping ground-truth boxes; the second detection's best box is
    # already taken, so it is a false positive even though IoU with the other
    # box is >= 0.5 (the ActivityNet / TF Object Detection rule).
    left, right = (0.0, 0.0, 0.5, 1.0), (0.1, 0.0, 0.6, 1.0)
    middle = (0.04, 0.0, 0.54, 1.0)  # IoU 0.85 with left, 0.79 with right
    assert box_iou([middle], [left, right]).min() >= 0.5
    truth = [gt("v", 1, left, 1), gt("v", 1, right, 1)]
    found = [det("v", 1, left, 1, 0.9), det("v", 1, middle, 1, 0.8)]
    iou = box_iou([middle], [left, right])[0]
    assert iou[0] > iou[1] >= 0.5
    assert evaluate_ava_rows(truth, found).per_class[1] == pytest.approx(0.5)


def test_voc_ap_edge_cases():
    assert math.isnan(voc_average_precision([0.5], [True], 0))
    assert voc_average_precision([], [], 4) == 0.0
    # Unsorted input is ranked by score: FP(0.2) after TP(0.9)
    assert voc_average_precision([0.2, 0.9], [False, True], 1) == 1.0
    assert voc_average_precision([0.9, 0.2], [False, True], 1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ"):
        voc_average_precision([0.1, 0.2], [True], 1)


def test_max_detections_per_keyframe():
    truth = [gt("v", 1, A, 1)]
    found = [det("v", 1, C, 1, 0.9), det("v", 1, A, 1, 0.1)]
    assert evaluate_ava_rows(truth, found).per_class[1] == pytest.approx(0.5)
    limited = evaluate_ava_rows(truth, found, max_detections_per_keyframe=1)
    assert limited.per_class[1] == 0.0


def _write(path, rows):
    path.write_text("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    return str(path)


@pytest.fixture
def ava_files(tmp_path):
    groundtruth = _write(
        tmp_path / "gt.csv",
        [
            ["vid_a", "0902", *A, 1, 0],
            ["vid_a", "0902", *A, 3, 0],
            ["vid_a", "0902", *B, 1, 1],
            ["vid_a", "0903", *C, 3, 0],
            ["vid_b", "0910", *B, 1, 0],
            ["vid_b", "0911", *A, 7, 0],  # class outside the label map
        ],
    )
    detections = _write(
        tmp_path / "det.csv",
        [
            ["vid_a", "0902", *A, 1, 0.95],
            ["vid_a", "0902", *B, 1, 0.85],
            ["vid_a", "0902", *A, 3, 0.5],
            ["vid_a", "0903", *C, 3, 0.6],
            ["vid_b", "0910", *C, 1, 0.99],  # FP, but vid_b,0910 is excluded
        ],
    )
    label_map = tmp_path / "labels.pbtxt"
    label_map.write_text(
        'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\n'
        'item {\n  name: "dance"\n  id: 3\n  label_type: PERSON_MOVEMENT\n}\n'
        'item {\n  name: "no truth here"\n  id: 5\n}\n'
    )
    exclusions = _write(tmp_path / "excluded.csv", [["vid_b", "0910"]])
    return groundtruth, detections, str(label_map), exclusions


def test_evaluate_csv_files(ava_files):
    groundtruth, detections, label_map, exclusions = ava_files
    result = evaluate_ava(
        groundtruth, detections, label_map=label_map, exclusions=exclusions
    )
    assert result.per_class[1] == 1.0 and result.per_class[3] == 1.0
    assert math.isnan(result.per_class[5])
    assert 7 not in result.per_class
    assert result.mean_ap == 1.0
    assert result.class_names[1] == "bend/bow (at the waist)"
    # Without the exclusions the FP on vid_b and its missed box count.
    plain = evaluate_ava(groundtruth, detections, label_map=label_map)
    # class 1: TP TP (0.95, 0.85) after FP (0.99); 3 GT:
    # precision 0, 1/2, 2/3 at recall 0, 1/3, 2/3 -> AP = 1/3 * 2/3 + 1/3 * 2/3
    assert plain.per_class[1] == pytest.approx(4 / 9)


def test_ava_eval_command(ava_files, capsys):
    groundtruth, detections, label_map, exclusions = ava_files
    code = main(
        [
            "ava-eval",
            groundtruth,
            detections,
            "--label-map",
            label_map,
            "--exclusions",
            exclusions,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "frame mAP@0.5IoU: 1.0000" in out
    assert "dance" in out


def test_ava_eval_command_errors(ava_files, tmp_path, capsys):
    groundtruth, detections, *_ = ava_files
    assert main(["ava-eval", groundtruth, str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    bad = _write(tmp_path / "bad.csv", [["vid", "12", "0.1", "oops", 0.2, 0.3, 1]])
    assert main(["ava-eval", groundtruth, bad]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:1" in err and "not numeric" in err


def test_box_iou_matrix():
    iou = box_iou([A, B], [A, C])
    assert iou.shape == (2, 2)
    np.testing.assert_allclose(iou[0, 0], 1.0)
    assert iou[1, 1] == 0.0
