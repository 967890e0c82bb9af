"""``detect``: AVA-style action detection on your own video, written as a video.

Person boxes come from a CSV you supply (``second,x1,y1,x2,y2`` in pixels of
the video, one row per person and second) or from a detector that needs no
download: OpenCV's built-in HOG people detector where the installed OpenCV has
it (4.x; OpenCV 5 moved HOG out of the main package), else moving regions
against the video's median background (static cameras). For every second of
the video the SlowFast detector scores each box on a clip centred on that
second, and the annotated video shows the boxes with their top actions during
that second.
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
        help="a saved detector (.keras) or SlowFastR50Detection weights "
        "(.weights.h5); default: untrained SlowFastR50Detection",
    )
    parser.add_argument("--label-map", help="AVA label map .pbtxt for action names")
    parser.add_argument("--csv", help="also write detections in AVA CSV format here")
    parser.add_argument(
        "--sampling-rate", type=int, default=2, help="frame step of the clips (2)"
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


def read_box_csv(path):
    """``{second: [(x1, y1, x2, y2), ...]}`` from ``second,x1,y1,x2,y2`` rows."""
    import csv

    boxes = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().lower() in ("", "second", "timestamp"):
                continue
            if len(row) < 5:
                raise ValueError(
                    f"{path}:{line}: expected 'second,x1,y1,x2,y2', got {row!r}"
                )
            try:
                second = int(float(row[0]))
                box = tuple(float(v) for v in row[1:5])
            except ValueError:
                raise ValueError(
                    f"{path}:{line}: non-numeric value in {row!r}"
                ) from None
            if box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"{path}:{line}: box {box} needs x2 > x1 and y2 > y1")
            boxes.setdefault(second, []).append(box)
    return boxes


def has_hog():
    """Whether the installed OpenCV has the HOG people detector (4.x does)."""
    import cv2

    return hasattr(cv2, "HOGDescriptor") and hasattr(
        cv2, "HOGDescriptor_getDefaultPeopleDetector"
    )


def median_background(reader, samples=25):
    """Median of ``samples`` frames spread over the video: the static scene."""
    import numpy as np

    instants = np.linspace(0.0, reader.info.duration, samples, endpoint=False)
    return np.median(reader.frames_at(instants), axis=0).astype(np.uint8)


def motion_people(frame_rgb, background, min_area_fraction=0.002, threshold=30):
    """Boxes ``[(x1, y1, x2, y2)]`` of regions that differ from the background.

    A fallback person detector for static cameras: pixels whose largest
    channel difference to ``background`` exceeds ``threshold`` are closed
    into blobs, and each blob of at least ``min_area_fraction`` of the frame
    becomes a box (with a small margin).
    """
    import cv2
    import numpy as np

    difference = np.abs(frame_rgb.astype(np.int16) - background.astype(np.int16))
    mask = (difference.max(axis=-1) > threshold).astype(np.uint8)
    kernel = np.ones((5, 5), np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.dilate(mask, kernel)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = mask.shape
    boxes = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area_fraction * height * width:
            continue
        boxes.append(
            (
                float(max(x - 2, 0)),
                float(max(y - 2, 0)),
                float(min(x + w + 2, width)),
                float(min(y + h + 2, height)),
            )
        )
    return boxes


def hog_people(frame_rgb, threshold=0.5):
    """Person boxes ``[(x1, y1, x2, y2)]`` on one RGB frame, OpenCV HOG + NMS.

    Small frames are upscaled so a 64x128 HOG window fits a person of about
    half the frame height.
    """
    import cv2
    import numpy as np

    if not has_hog():
        raise ValueError(
            f"this OpenCV ({cv2.__version__}) has no HOG people detector; "
            "use --detector motion, --boxes, or OpenCV 4.x"
        )
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    height = frame_rgb.shape[0]
    scale = max(1.0, 320.0 / height)
    image = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    if scale > 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale)
    rects, weights = hog.detectMultiScale(
        image, winStride=(8, 8), padding=(8, 8), scale=1.05
    )
    if len(rects) == 0:
        return []
    weights = np.asarray(weights, np.float32).reshape(-1)
    keep = cv2.dnn.NMSBoxes(
        [list(map(int, r)) for r in rects], weights.tolist(), threshold, 0.4
    )
    boxes = []
    for i in np.asarray(keep).reshape(-1):
        x, y, w, h = (float(v) / scale for v in rects[i])
        boxes.append((x, y, x + w, y + h))
    return boxes


def _load_model(weights):
    import keras

    from keras_slowfast.models import SlowFastDetector, SlowFastR50Detection

    if weights is None:
        print("warning: no --weights given; the detector is untrained (random scores)")
        return SlowFastR50Detection()
    if weights.endswith(".keras"):
        model = keras.saving.load_model(weights)
        if not isinstance(model, SlowFastDetector):
            raise ValueError(
                f"{weights}: expected a saved SlowFastDetector, "
                f"got {type(model).__name__}"
            )
        return model
    if weights.endswith(".weights.h5"):
        model = SlowFastR50Detection()
        model.load_weights(weights)
        return model
    raise ValueError(f"--weights={weights!r} must end with .keras or .weights.h5")


def _caption(scores, names, top_k):
    import numpy as np

    order = np.argsort(-scores)[:top_k]
    return [f"{names[i]} {scores[i]:.2f}" for i in order]


def run(args):
    import os

    import keras
    import numpy as np

    from keras_slowfast.data.ava import letterbox, read_label_map, write_detections
    from keras_slowfast.data.decode import VideoReader
    from keras_slowfast.data.sampling import keyframe_clip_instants
    from keras_slowfast.data.transforms import input_convention_of, normalize

    if args.top_k < 1:
        raise ValueError(f"--top-k={args.top_k} must be >= 1")
    supplied = read_box_csv(args.boxes) if args.boxes else None
    detector = args.detector
    if detector == "auto":
        detector = "hog" if has_hog() else "motion"
    if supplied is None and detector == "hog" and not has_hog():
        hog_people(None)  # raises the ValueError that explains it
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
        names = [f"action {a}" for a in action_ids]
    convention = input_convention_of(model)

    video_id = os.path.splitext(os.path.basename(args.video))[0]
    rows = []
    boxes_per_second, captions_per_second = [], []
    with VideoReader(args.video) as reader:
        info = reader.info
        background = None
        if supplied is None and detector == "motion":
            background = median_background(reader)
        seconds = max(1, int(np.ceil(info.duration)))
        progress = keras.utils.Progbar(seconds, unit_name="second")
        for second in range(seconds):
            # The keyframe of each second is its middle instant (AVA labels one
            # keyframe per second).
            keyframe = min(second + 0.5, info.duration)
            if supplied is not None:
                boxes = supplied.get(second, [])
            else:
                frame = reader.frames_at([keyframe])[0]
                if detector == "hog":
                    boxes = hog_people(frame, args.hog_threshold)
                else:
                    boxes = motion_people(frame, background)
            captions = []
            if boxes:
                instants = keyframe_clip_instants(
                    keyframe, model.num_frames, args.sampling_rate
                )
                clip, scale, pad = letterbox(
                    reader.frames_at(instants), args.image_size
                )
                # The training convention: channels reordered, then normalized.
                clip = normalize(clip, convention)
                pixel = np.asarray(boxes, np.float32) * scale
                pixel += np.float32([pad[0], pad[1], pad[0], pad[1]])
                scores = np.asarray(model([clip[None], pixel[None]], training=False))[0]
                for box, box_scores in zip(boxes, scores, strict=True):
                    captions.append(_caption(box_scores, names, args.top_k))
                    normalized = np.float32(box) / np.float32(
                        [info.width, info.height, info.width, info.height]
                    )
                    for action, score in zip(action_ids, box_scores, strict=True):
                        rows.append((video_id, second, normalized, action, score))
            boxes_per_second.append(boxes)
            captions_per_second.append(captions)
            progress.update(second + 1)
        _write_annotated(args.out, reader, info, boxes_per_second, captions_per_second)
    if args.csv:
        write_detections(args.csv, rows)
    source = "CSV" if supplied is not None else detector
    total_boxes = sum(len(boxes) for boxes in boxes_per_second)
    print(
        f"wrote {args.out}: {seconds} second(s), {total_boxes} person box(es) "
        f"({source})" + (f"; detections in {args.csv}" if args.csv else "")
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
