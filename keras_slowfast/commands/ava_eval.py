"""``ava-eval``: frame-level AVA mAP of a detections CSV against ground truth."""

HELP = "Frame-level AVA mAP@0.5IoU of a detections CSV (per-class AP table)."


def add_arguments(parser):
    parser.add_argument("groundtruth", help="ground-truth CSV (AVA format)")
    parser.add_argument(
        "detections", help="detections CSV: video,timestamp,x1,y1,x2,y2,action,score"
    )
    parser.add_argument(
        "--label-map", help="label map .pbtxt; its ids are the evaluated classes"
    )
    parser.add_argument("--exclusions", help="CSV of video,timestamp keyframes to skip")
    parser.add_argument(
        "--iou", type=float, default=0.5, help="IoU match threshold (0.5)"
    )
    parser.add_argument(
        "--max-detections",
        type=int,
        default=50,
        help="best detections kept per keyframe, 0 = all (50, as ActivityNet)",
    )


def run(args):
    import math

    from keras_slowfast.evaluation.ava_map import evaluate_ava

    if not 0.0 < args.iou <= 1.0:
        raise ValueError(f"--iou={args.iou} must be in (0, 1]")
    result = evaluate_ava(
        args.groundtruth,
        args.detections,
        label_map=args.label_map,
        exclusions=args.exclusions,
        iou_threshold=args.iou,
        max_detections_per_keyframe=args.max_detections or None,
    )
    print(result.table())
    return 0 if not math.isnan(result.mean_ap) else 1
