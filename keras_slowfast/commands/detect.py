"""``detect``: AVA-style action detection on your own video, written as a video.

Person boxes come from a CSV you supply (``second,x1,y1,x2,y2`` in pixels of
the video, one row per person and second) or from a detector that needs no
download (``keras_slowfast.inference.detect``: OpenCV HOG, or moving regions).
``detect_video`` scores each box of every second; this command draws the
boxes with their top actions during that second and writes the video (and,
with ``--csv``, AVA detection rows).
"""

HELP = "Detect actions of people in a video; write an annotated video."

# Text colour (BGR) of the box captions and of the boxes.
BOX_COLOR = (0, 255, 0)


def add_arguments(parser):
    parser.add_argument("video", help="input video file")
    parser.add_argument("--out", required=True, help="annotated output video (.mp4)")
    parser.add_argument(
        "--boxes",
        help="CSV of person boxes: second,x1,y1,x2,y2 (pixels); default: --detector",
    )
    parser.add_argument(
        "--detector",
        choices=("auto", "hog", "motion"),
        default="auto",
        help="person boxes without --boxes: OpenCV HOG, moving regions, or "
        "auto (HOG where OpenCV has it, else motion)",
    )
    parser.add_argument(
        "--weights",
        help="a pretrained AVA preset (e.g. slowfast_8x8_r50_ava22, see `info "
        "--weights`), a saved detector (.keras), a checkpoint (.pyth/.pkl) or its "
        "URL, or SlowFastR50Detection weights (.weights.h5); default: untrained",
    )
    parser.add_argument(
        "--label-map",
        help="AVA label map .pbtxt for action names (default: the model's names)",
    )
    parser.add_argument("--csv", help="also write detections in AVA CSV format here")
    parser.add_argument(
        "--sampling-rate",
        type=int,
        help="frame step of the clips (default: the model's, else 2)",
    )
    parser.add_argument(
        "--image-size", type=int, default=256, help="clip size, letterboxed (256)"
    )
    parser.add_argument(
        "--top-k", type=int, default=3, help="actions shown per box (3)"
    )
    parser.add_argument(
        "--hog-threshold",
        type=float,
        default=0.5,
        help="minimum HOG SVM score of a person box (0.5)",
    )


def _load_model(weights):
    from keras_slowfast.models import SlowFastDetector, SlowFastR50Detection
    from keras_slowfast.models.loading import load_model

    if weights is None:
        print("warning: no --weights given; the detector is untrained (random scores)")
        return SlowFastR50Detection()
    # A .weights.h5 file without a config beside it: SlowFastR50Detection's.
    preset = "slowfast_8x8_r50" if str(weights).endswith(".weights.h5") else None
    model = load_model(weights, preset=preset, detector=True)
    if not isinstance(model, SlowFastDetector):
        raise ValueError(
            f"{weights}: expected a saved SlowFastDetector, got {type(model).__name__}"
        )
    return model


def _caption(scores, names, top_k):
    import numpy as np

    order = np.argsort(-scores)[:top_k]
    return [f"{names[i]} {scores[i]:.2f}" for i in order]


def run(args):
    import os

    import numpy as np

    from keras_slowfast.data.ava import read_label_map, write_detections
    from keras_slowfast.data.decode import VideoReader
    from keras_slowfast.inference.detect import (
        detect_video,
        person_boxes,
        read_box_csv,
    )

    if args.top_k < 1:
        raise ValueError(f"--top-k={args.top_k} must be >= 1")
    # Outputs and inputs checked before the long work starts.
    if os.path.splitext(args.out)[1].lower() not in (".mp4", ".avi"):
        raise ValueError(f"--out={args.out}: expected a .mp4 or .avi file")
    for path in (args.out, args.csv):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if args.label_map and not os.path.isfile(args.label_map):
        raise FileNotFoundError(f"--label-map {args.label_map}: file not found")
    source = read_box_csv(args.boxes) if args.boxes else args.detector
    # Cheap checks first: an OpenCV without HOG fails before the model loads.
    provider = person_boxes(source, hog_threshold=args.hog_threshold)
    model = _load_model(args.weights)
    if args.label_map:
        label_map = read_label_map(args.label_map)
        action_ids = sorted(label_map)
        if len(action_ids) != model.num_classes:
            raise ValueError(
                f"--label-map has {len(action_ids)} actions, the model "
                f"{model.num_classes} classes"
            )
        names = [label_map[a] for a in action_ids]
    else:
        action_ids = list(range(1, model.num_classes + 1))
        names = model.class_names or [f"action {a}" for a in action_ids]

    result = detect_video(
        model,
        args.video,
        boxes=provider,
        sampling_rate=args.sampling_rate,
        image_size=args.image_size,
    )
    video_id = os.path.splitext(os.path.basename(args.video))[0]
    size = np.float32([result["width"], result["height"]] * 2)
    rows, boxes_per_second, captions_per_second = [], [], []
    for entry in result["seconds"]:
        captions = []
        for box, box_scores in zip(entry["boxes"], entry["scores"], strict=True):
            captions.append(_caption(box_scores, names, args.top_k))
            for action, score in zip(action_ids, box_scores, strict=True):
                rows.append((video_id, entry["second"], box / size, action, score))
        boxes_per_second.append(entry["boxes"])
        captions_per_second.append(captions)
    with VideoReader(args.video) as reader:
        _write_annotated(
            args.out, reader, reader.info, boxes_per_second, captions_per_second
        )
    if args.csv:
        write_detections(args.csv, rows)
    shown = "CSV" if args.boxes else result["person_boxes"]
    total_boxes = sum(len(boxes) for boxes in boxes_per_second)
    print(
        f"wrote {args.out}: {len(result['seconds'])} second(s), {total_boxes} "
        f"person box(es) ({shown})"
        + (f"; detections in {args.csv}" if args.csv else "")
    )
    return 0


def _write_annotated(path, reader, info, boxes_per_second, captions_per_second):
    """Writes every frame of the video with the boxes and captions of its second."""
    import cv2

    fps = info.fps if info.fps > 0 else 30.0
    writer = cv2.VideoWriter(
        path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (info.width, info.height)
    )
    if not writer.isOpened():
        raise ValueError(f"--out={path!r}: OpenCV cannot write this video file")
    last = len(boxes_per_second) - 1
    try:
        for seconds, frame in reader.iter_frames():
            second = min(max(int(seconds), 0), last)
            canvas = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            boxes, captions = boxes_per_second[second], captions_per_second[second]
            for box, lines in zip(boxes, captions, strict=True):
                x1, y1, x2, y2 = (int(round(v)) for v in box)
                cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOR, 2)
                for j, text in enumerate(lines):
                    cv2.putText(
                        canvas,
                        text,
                        (x1 + 2, y1 + 12 + 12 * j),
                        cv2.FONT_HERSHEY_SIMPLEX,
                        0.4,
                        BOX_COLOR,
                        1,
                        cv2.LINE_AA,
                    )
            writer.write(canvas)
    finally:
        writer.release()
