"""Explain a whole video: Grad-CAM per window, written as a heat-map video.

``explain_video`` reads the same windows as ``predict_video`` (instants in
seconds, decoded by presentation time, the center crop the model sees) and
writes, for every frame a window samples, the Slow and the Fast heat maps
side by side with the predicted class above them.
"""

import os

import keras
import numpy as np

from keras_slowfast.data.decode import VideoReader, check_not_image
from keras_slowfast.data.sampling import window_instants
from keras_slowfast.explain import overlay
from keras_slowfast.explain.grad_cam import grad_cam
from keras_slowfast.labels import load_label_map
from keras_slowfast.models.preprocessor import VideoPreprocessor, preprocessor_of
from keras_slowfast.models.task import (
    input_settings,
    is_detection_model,
    model_class_names,
    score_activation,
)

VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


def _class_index(name_or_id, labels, num_classes):
    if name_or_id is None:
        return None
    text = str(name_or_id)
    if labels is not None and text in labels:
        return labels.index(text)
    if text.isdigit() and int(text) < num_classes:
        return int(text)
    known = f"; names: {', '.join(labels)}" if labels is not None else ""
    raise ValueError(
        f"class {text!r} is neither a class name nor an id in [0, {num_classes})"
        + known
    )


def _softmax(scores):
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


def explain_video(
    model,
    path,
    out=None,
    *,
    class_name=None,
    labels=None,
    frames_out=None,
    sampling_rate=None,
    target_fps=30.0,
    window_stride=None,
    short_side=None,
    crop_size=None,
    opacity=0.5,
    scale=None,
    backend="opencv",
    verbose=1,
):
    """Writes a video of the Slow and Fast Grad-CAM maps of every window.

    Args:
        model: a SlowFast classifier (a detector explains boxes; use
            :func:`keras_slowfast.explain.grad_cam` with ``boxes``).
        path: str. The video.
        out: str or None. Output video (``.mp4`` or ``.avi``): each window's
            frames one after the other at ``target_fps / sampling_rate``
            (real speed for back-to-back windows; overlapping windows, such
            as the last one, show their shared moments twice). None writes
            no video.
        class_name: str, int or None. The class to explain (a name from
            ``labels`` or an id); None explains each window's top class.
        labels: list of names, a label map file, or None (the model's
            ``class_names``, else ids).
        frames_out: str or None. Also write every frame as a PNG here.
        sampling_rate, target_fps, window_stride, short_side, crop_size,
            backend: the windows and views, as in ``predict_video``.
        opacity: float. Heat-map weight over the frames.
        scale: int or None. Panel enlargement; None picks one that makes a
            panel at least 224 pixels wide.
        verbose: int. 1 shows a progress bar over the windows.

    Returns:
        dict: ``path``, ``out``, ``frames`` (written), ``windows``: one entry
        per window with ``start_time``, ``class_id``, ``class_name`` and
        ``score`` (softmax of the logits, or the sigmoid/softmax output).

    Raises:
        VideoDecodeError: the file is missing, an image or undecodable.
        ValueError: bad arguments, an unknown class, or a detection model.
    """
    if is_detection_model(model):
        raise ValueError(
            "explain_video explains classifiers; for a detector call "
            "keras_slowfast.explain.grad_cam(model, clip, boxes=...)"
        )
    sampling_rate, short_side, crop_size = input_settings(
        model, sampling_rate, short_side, crop_size
    )
    preprocessor = VideoPreprocessor.from_convention(
        preprocessor_of(model).input_convention,
        short_side=short_side,
        crop_size=crop_size,
    )
    if out is None and frames_out is None:
        raise ValueError("nothing to write: give out (a video file) or frames_out")
    if out is not None and os.path.splitext(out)[1].lower() not in VIDEO_CODECS:
        raise ValueError(f"out={out}: expected a .mp4 or .avi file")
    if isinstance(labels, (str, os.PathLike)):
        labels = load_label_map(labels)
    if labels is None:
        labels = model_class_names(model)
    num_classes = int(model.outputs[0].shape[-1])
    if labels is not None and len(labels) != num_classes:
        raise ValueError(
            f"the label map has {len(labels)} names, the model {num_classes} classes"
        )
    class_index = _class_index(class_name, labels, num_classes)
    num_frames = int(model.inputs[0].shape[1])
    path = os.fspath(path)
    check_not_image(path)
    if frames_out:
        os.makedirs(frames_out, exist_ok=True)
    activation = score_activation(model, "auto")
    writer = None
    summary = []
    written = 0
    with VideoReader(path, backend=backend) as reader:
        info = reader.info
        windows = window_instants(
            info.duration,
            num_frames,
            sampling_rate,
            target_fps,
            window_stride=window_stride,
            video_fps=info.fps,
        )
        progbar = (
            keras.utils.Progbar(len(windows), unit_name="window") if verbose else None
        )
        try:
            for number, instants in enumerate(windows):
                clip = np.asarray(preprocessor(reader.frames_at(instants)[None]))
                # The frames as the model saw them (resized and cropped).
                shown = np.asarray(preprocessor.denormalize(clip[0]))
                result = grad_cam(model, clip, class_index=class_index)
                chosen = int(result.class_index[0])
                scores = result.scores[0]
                score = float(
                    _softmax(scores)[chosen]
                    if activation == "softmax"
                    else scores[chosen]
                )
                name = labels[chosen] if labels is not None else str(chosen)
                summary.append(
                    {
                        "start_time": round(float(instants[0]), 3),
                        "class_id": chosen,
                        "class_name": name,
                        "score": score,
                    }
                )
                panel_scale = scale or max(1, -(-224 // shown.shape[2]))
                verb = "top" if class_index is None else "explains"
                caption = f"{instants[0]:.1f}s  {verb}: {name} ({score:.0%})"
                images = overlay.panels(
                    shown,
                    {k: result.maps[k][0] for k in result.maps},
                    caption,
                    opacity=opacity,
                    scale=panel_scale,
                )
                if out and writer is None:
                    writer = _open_writer(
                        out, images.shape[1:3], target_fps / sampling_rate
                    )
                for index, image in enumerate(images):
                    bgr = np.ascontiguousarray(image[..., ::-1])
                    if writer is not None:
                        writer.write(bgr)
                    if frames_out:
                        _write_png(
                            os.path.join(
                                frames_out, f"window{number:04d}_frame{index:03d}.png"
                            ),
                            bgr,
                        )
                    written += 1
                if progbar is not None:
                    progbar.update(number + 1)
        finally:
            if writer is not None:
                writer.release()
    return {"path": path, "out": out, "frames": written, "windows": summary}


def _open_writer(path, size, fps):
    import cv2

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    extension = os.path.splitext(path)[1].lower()
    height, width = size
    writer = cv2.VideoWriter(
        path, cv2.VideoWriter_fourcc(*VIDEO_CODECS[extension]), fps, (width, height)
    )
    if not writer.isOpened():
        raise ValueError(f"out={path}: OpenCV cannot write this video file")
    return writer


def _write_png(path, image):
    import cv2

    if not cv2.imwrite(path, image):
        raise ValueError(f"{path}: could not write the PNG")
