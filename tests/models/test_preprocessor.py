"""VideoPreprocessor: each method against NumPy/OpenCV, config, and errors."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast.models.preprocessor import VideoPreprocessor, preprocessor_of
from tests.test_case import run_layer_test, run_serialization_test

# A per-channel BGR convention (statistics listed in B, G, R order).
BGR = {"mean": [0.40, 0.45, 0.50], "std": [0.20, 0.225, 0.25], "channel_order": "bgr"}


def _normalized(frames, mean=(0.45,) * 3, std=(0.225,) * 3, bgr=False):
    """NumPy reference: scale to [0, 1], reorder, then per-channel statistics."""
    x = np.asarray(frames, np.float64) / 255.0
    if bgr:
        x = x[..., ::-1]
    return (x - np.asarray(mean)) / np.asarray(std)


def _resized(frames, height, width):
    """OpenCV float bilinear resize, frame by frame."""
    return np.stack(
        [
            cv2.resize(
                f.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
            )
            for f in frames
        ]
    )


def test_layer_config_and_saving_round_trip():
    video = np.random.default_rng(0).integers(0, 256, (2, 3, 48, 60, 3), np.uint8)
    kwargs = {**BGR, "short_side": 40, "crop_size": 32}
    output = run_layer_test(VideoPreprocessor, kwargs, video, (2, 3, 32, 32, 3))
    assert output.dtype == "float32"
    preprocessor = VideoPreprocessor(**kwargs)
    clone = run_serialization_test(preprocessor)
    assert clone.input_convention == BGR
    assert (clone.short_side, clone.crop_size) == (40, 32)
    config = preprocessor.get_config()
    assert {k: config[k] for k in kwargs} == kwargs


def test_normalize_uint8_and_float_match_numpy():
    frames = np.random.default_rng(1).integers(0, 256, (2, 4, 5, 3), np.uint8)
    rgb = VideoPreprocessor()
    np.testing.assert_allclose(rgb.normalize(frames), _normalized(frames), atol=1e-5)
    np.testing.assert_allclose(
        rgb.normalize(frames.astype(np.float32) / 255.0), _normalized(frames), atol=1e-5
    )
    assert rgb.normalize(frames).dtype == tf.float32


def test_bgr_reverses_channels_first_then_normalizes_per_channel():
    pixel = np.array([[[10, 100, 200]]], np.uint8)
    out = np.asarray(VideoPreprocessor(**BGR).normalize(pixel)).ravel()
    expected = (np.array([200, 100, 10]) / 255.0 - BGR["mean"]) / BGR["std"]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # Not the RGB-ordered statistics reversed afterwards.
    wrong = ((np.array([10, 100, 200]) / 255.0 - BGR["mean"]) / BGR["std"])[::-1]
    assert np.abs(out - wrong).max() > 0.1


def test_denormalize_inverts_normalize():
    frames = np.random.default_rng(2).integers(0, 256, (3, 6, 7, 3), np.uint8)
    for preprocessor in (VideoPreprocessor(), VideoPreprocessor(**BGR)):
        clip = preprocessor.normalize(frames)
        back = np.asarray(preprocessor.denormalize(clip))
        assert back.dtype == np.uint8
        np.testing.assert_array_equal(back, frames)
    assert (
        np.asarray(VideoPreprocessor().denormalize(np.full((1, 3), 9.0))).max() == 255
    )


def test_resize_matches_opencv_landscape_and_portrait():
    rng = np.random.default_rng(3)
    preprocessor = VideoPreprocessor(short_side=40)
    landscape = rng.integers(0, 256, (3, 48, 60, 3), np.uint8)  # -> 40 x 50
    out = np.asarray(preprocessor.resize(landscape))
    assert out.shape == (3, 40, 50, 3)
    np.testing.assert_allclose(out, _resized(landscape, 40, 50), atol=1e-2)
    portrait = rng.integers(0, 256, (2, 1, 30, 20, 3), np.uint8)  # -> 60 x 40
    out = np.asarray(preprocessor.resize(portrait))
    assert out.shape == (2, 1, 60, 40, 3)
    np.testing.assert_allclose(out[1], _resized(portrait[1], 60, 40), atol=1e-2)
    assert np.asarray(VideoPreprocessor().resize(landscape)).shape == landscape.shape


def test_crop_positions_center_and_both_ends():
    video = np.arange(2 * 32 * 48 * 3).reshape(2, 32, 48, 3).astype(np.uint8)
    preprocessor = VideoPreprocessor(crop_size=32)
    np.testing.assert_array_equal(preprocessor.crop(video, 0.0), video[:, :, :32])
    np.testing.assert_array_equal(preprocessor.crop(video), video[:, :, 8:40])
    np.testing.assert_array_equal(preprocessor.crop(video, 1.0), video[:, :, 16:])
    # Odd margins round the center up, as uniform_crop: ceil(9 / 2) = 5.
    odd = np.zeros((1, 41, 32, 3), np.uint8)
    odd[:, 5:37] = 1
    assert np.asarray(preprocessor.crop(odd)).min() == 1


def test_call_is_resize_crop_normalize():
    rng = np.random.default_rng(4)
    video = rng.integers(0, 256, (1, 3, 48, 60, 3), np.uint8)
    preprocessor = VideoPreprocessor(**BGR, short_side=40, crop_size=32)
    out = np.asarray(preprocessor(video))
    assert out.shape == (1, 3, 32, 32, 3)
    # 48x60 -> 40x50; center crop offsets ceil(8/2)=4, ceil(18/2)=9.
    cropped = _resized(video[0], 40, 50)[:, 4:36, 9:41]
    expected = _normalized(cropped, BGR["mean"], BGR["std"], bgr=True)
    np.testing.assert_allclose(out[0], expected, atol=1e-4)
    # One clip keeps its rank; 3-crop positions move along the long side.
    unbatched = np.asarray(preprocessor(video[0]))
    np.testing.assert_allclose(unbatched, out[0], atol=1e-6)
    right = np.asarray(preprocessor(video, crop_position=1.0))[0]
    cropped = _resized(video[0], 40, 50)[:, 8:40, 18:50]
    expected = _normalized(cropped, BGR["mean"], BGR["std"], bgr=True)
    np.testing.assert_allclose(right, expected, atol=1e-4)


def test_call_with_dynamic_shapes_in_a_graph():
    preprocessor = VideoPreprocessor(short_side=40, crop_size=32)
    spec = tf.TensorSpec([None, 2, None, None, 3], tf.uint8)
    function = tf.function(preprocessor, input_signature=[spec])
    concrete = function.get_concrete_function()
    assert concrete.structured_outputs.shape.as_list() == [None, 2, 32, 32, 3]
    video = np.random.default_rng(5).integers(0, 256, (1, 2, 50, 41, 3), np.uint8)
    np.testing.assert_allclose(function(video), preprocessor(video), atol=1e-6)


def test_resized_shape_ints_and_tensors_agree():
    preprocessor = VideoPreprocessor(short_side=256)
    for height, width in [(48, 60), (60, 48), (33, 33), (240, 427)]:
        python = preprocessor.resized_shape(height, width)
        tensor = [
            int(v) for v in preprocessor.resized_shape(tf.constant(height), width)
        ]
        assert min(python) == 256
        assert list(python) == tensor
    assert VideoPreprocessor().resized_shape(48, 60) == (48, 60)


def test_compute_output_shape():
    assert VideoPreprocessor(crop_size=32).compute_output_shape(
        (None, 8, None, None, 3)
    ) == (None, 8, 32, 32, 3)
    assert VideoPreprocessor(short_side=40).compute_output_shape((1, 8, 48, 60, 3)) == (
        1,
        8,
        40,
        50,
        3,
    )
    assert VideoPreprocessor(short_side=40).compute_output_shape(
        (1, 8, None, 60, 3)
    ) == (1, 8, None, None, 3)


def test_from_convention_and_preprocessor_of():
    assert VideoPreprocessor.from_convention(None).input_convention == {
        "mean": [0.45] * 3,
        "std": [0.225] * 3,
        "channel_order": "rgb",
    }
    partial = VideoPreprocessor.from_convention({"channel_order": "bgr"}, crop_size=8)
    assert partial.input_convention["mean"] == [0.45] * 3
    assert partial.crop_size == 8

    class Old:
        input_convention = BGR

    class Task:
        preprocessor = VideoPreprocessor(mean=[0.5] * 3)
        input_convention = BGR  # the preprocessor wins

    assert preprocessor_of(Old()).input_convention == BGR
    assert preprocessor_of(Task()) is Task.preprocessor
    assert preprocessor_of(object()).input_convention["channel_order"] == "rgb"


def test_bad_arguments_name_the_value():
    cases = [
        ({"channel_order": "hsv"}, "channel_order='hsv'"),
        ({"mean": [0.5, 0.5]}, r"mean=\[0.5, 0.5\] must be 3 numbers"),
        ({"mean": 0.5}, "mean=0.5 must be 3 numbers"),
        ({"std": [0.2, 0.0, 0.2]}, r"std=\[0.2, 0.0, 0.2\] must be > 0"),
        ({"short_side": 0}, "short_side=0 must be a positive number"),
        ({"crop_size": 2.5}, "crop_size=2.5 must be a positive number"),
        (
            {"short_side": 256, "crop_size": 300},
            "crop_size=300 must be <= short_side=256",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            VideoPreprocessor(**kwargs)
    with pytest.raises(ValueError, match=r"unknown keys \['scale'\]"):
        VideoPreprocessor.from_convention({"scale": 2})
    with pytest.raises(ValueError, match="video must be"):
        VideoPreprocessor()(np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="3 channels"):
        VideoPreprocessor().normalize(np.zeros((2, 4), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than crop_size"):
        VideoPreprocessor(crop_size=32)(np.zeros((1, 1, 20, 40, 3), np.uint8))
