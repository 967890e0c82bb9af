"""One per-channel BGR convention, every path: the same model input from each.

The tf.data pipeline (training and evaluation clips), the SavedModel's
``serving_default`` signature, ``predict_video``, ``detect_video`` and the AVA
pipeline all prepare frames through the model's ``VideoPreprocessor``. Echo
models (their output is their input, flattened) show what each path feeds
the network; a path that skipped the channel reversal or used the default
statistics would differ from the NumPy reference by far more than the
tolerance.
"""

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast.data.ava import AVABox, AVADataConfig, AVADataset
from keras_slowfast.data.datasets import VideoClipDataset, VideoDataConfig
from keras_slowfast.data.decode import VideoReader
from keras_slowfast.export.saved_model import export_saved_model
from keras_slowfast.inference.classify import predict_video
from keras_slowfast.inference.detect import detect_video
from keras_slowfast.models.preprocessor import VideoPreprocessor, preprocessor_of

# mean and std in the model's channel order (B, G, R), as a PySlowFast config
# of a Caffe2 checkpoint gives them.
BGR = {"mean": [0.40, 0.45, 0.50], "std": [0.20, 0.225, 0.25], "channel_order": "bgr"}
NUM_FRAMES, SIZE, FPS = 8, 32, 10


def _echo_classifier():
    video = keras.Input((NUM_FRAMES, SIZE, SIZE, 3), name="video")
    model = keras.Model(video, keras.layers.Flatten()(video))
    model.preprocessor = VideoPreprocessor(**BGR)
    return model


def _echo_detector():
    video = keras.Input((NUM_FRAMES, SIZE, SIZE, 3), name="video")
    boxes = keras.Input((None, 4), name="boxes")
    flat = keras.layers.Flatten()(video)
    per_box = keras.ops.zeros_like(boxes[..., :1]) + flat[:, None, :]
    model = keras.Model([video, boxes], per_box)
    model.preprocessor = VideoPreprocessor(**BGR)
    return model


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """3 s of one still frame of colour noise, lossless (FFV1): every frame
    decodes alike, so every path sees the same frames whichever instants it
    samples."""
    folder = tmp_path_factory.mktemp("convention")
    path = folder / "still.avi"
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (SIZE,) * 2
    )
    frame = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), np.uint8)
    frame[:, :, 0] //= 4  # very different channels
    for _ in range(3 * FPS):
        writer.write(frame)
    writer.release()
    with VideoReader(str(path)) as reader:
        frames = reader.frames_at(np.linspace(0.0, 2.9, NUM_FRAMES))
    assert (frames == frames[:1]).all()
    return path, frames


def _reference(frames):
    """NumPy: RGB in [0, 1], channels reversed, then the B, G, R statistics."""
    x = frames.astype(np.float64)[..., ::-1] / 255.0
    return ((x - BGR["mean"]) / BGR["std"]).astype(np.float32)


def _inputs_from_every_path(path, tmp_path):
    classifier, detector = _echo_classifier(), _echo_detector()
    convention = preprocessor_of(classifier).input_convention
    inputs = {}

    config = VideoDataConfig(
        num_frames=NUM_FRAMES, sampling_rate=1, target_fps=FPS,
        train_short_side=(SIZE, SIZE), train_crop_size=SIZE, random_flip=False,
        eval_short_side=SIZE, eval_crop_size=SIZE, num_clips=1, num_crops=1,
        input_convention=convention, num_parallel_calls=1, seed=0,
    )  # fmt: skip
    data = VideoClipDataset([str(path)], [0], config=config)
    inputs["tf.data training"] = next(iter(data.build(True)))[0]
    inputs["tf.data evaluation"] = next(iter(data.build(False)))[0]

    directory = export_saved_model(
        classifier, tmp_path / "saved", short_side=SIZE, crop_size=SIZE,
        top_k=1, output_activation="none",
    )  # fmt: skip
    serve = tf.saved_model.load(directory).signatures["serving_default"]
    with VideoReader(str(path)) as reader:
        raw = reader.frames_at(np.arange(NUM_FRAMES) / FPS)
    inputs["SavedModel"] = serve(video=tf.constant(raw[None]))["probabilities"][0]

    result = predict_video(
        classifier, path, sampling_rate=1, target_fps=FPS, num_clips=1,
        short_side=SIZE, crop_size=SIZE, output_activation="none", verbose=0,
    )  # fmt: skip
    inputs["predict_video"] = result["probabilities"]

    result = detect_video(
        detector, path, boxes={1: [(0.0, 0.0, 8.0, 8.0)]}, sampling_rate=1,
        target_fps=FPS, image_size=SIZE, verbose=0,
    )  # fmt: skip
    inputs["detect_video"] = result["seconds"][1]["scores"][0]

    ava = AVADataset(
        path.parent,
        {(path.stem, 1): [AVABox((0.0, 0.0, 0.25, 0.25), (1,))]},
        [1],
        AVADataConfig(
            num_frames=NUM_FRAMES, sampling_rate=1, target_fps=FPS,
            image_size=SIZE, max_boxes=1, **convention,
        ),
    )  # fmt: skip
    inputs["AVA"] = ava.sample((path.stem, 1))[0]
    return inputs


def test_every_path_feeds_the_same_bgr_model_input(video, tmp_path):
    path, frames = video
    expected = _reference(frames)
    rgb_ordered = (frames / 255.0 - BGR["mean"]) / BGR["std"]
    # The convention matters: the wrong order is far from the reference.
    assert np.abs(rgb_ordered - expected).max() > 1.0
    inputs = _inputs_from_every_path(path, tmp_path)
    assert len(inputs) == 6
    for name, value in inputs.items():
        clip = np.asarray(value, np.float32).reshape(expected.shape)
        np.testing.assert_allclose(clip, expected, atol=1e-5, err_msg=name)
