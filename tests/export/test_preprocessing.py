import cv2
import numpy as np
import pytest

from keras_slowfast.export.preprocessing import (
    check_sizes,
    normalize,
    preprocess_video,
    resized_shape,
)


def _reference(frames, size, crop_box, mean=0.45, std=0.225):
    """OpenCV float bilinear resize + crop + normalization, frame by frame."""
    height, width = size
    top, left = crop_box
    out = []
    for frame in frames:
        resized = cv2.resize(
            frame.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        out.append((resized[top : top + 32, left : left + 32] / 255.0 - mean) / std)
    return np.stack(out)


def test_resize_crop_normalize_matches_opencv_landscape():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (1, 3, 48, 60, 3), dtype=np.uint8)
    out = np.asarray(preprocess_video(video, short_side=40, crop_size=32))
    assert out.shape == (1, 3, 32, 32, 3)
    # 48x60 -> 40x50; center crop offsets ceil(8/2)=4, ceil(18/2)=9.
    expected = _reference(video[0], (40, 50), (4, 9))
    np.testing.assert_allclose(out[0], expected, atol=1e-4)


def test_resize_crop_matches_opencv_portrait_upscale():
    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, (2, 1, 30, 20, 3), dtype=np.uint8)
    out = np.asarray(preprocess_video(video, short_side=40, crop_size=32))
    # 30x20 -> 60x40; offsets 14, 4.
    for b in range(2):
        np.testing.assert_allclose(
            out[b], _reference(video[b], (60, 40), (14, 4)), atol=1e-4
        )


def test_crop_positions_take_both_ends():
    video = np.arange(32 * 48 * 3, dtype=np.uint8).reshape(1, 1, 32, 48, 3)
    kwargs = dict(short_side=None, crop_size=32, input_convention=None)
    left = np.asarray(preprocess_video(video, crop_position=0.0, **kwargs))
    right = np.asarray(preprocess_video(video, crop_position=1.0, **kwargs))
    expected = (video.astype(np.float32) / 255.0 - 0.45) / 0.225
    np.testing.assert_allclose(left, expected[:, :, :, :32], atol=1e-6)
    np.testing.assert_allclose(right, expected[:, :, :, 16:], atol=1e-6)


def test_bgr_convention_reverses_channels_then_normalizes():
    pixel = np.array([[[[[10, 100, 200]]]]], dtype=np.uint8)
    convention = {
        "mean": [0.1, 0.2, 0.3],
        "std": [0.5, 0.25, 2.0],
        "channel_order": "bgr",
    }
    out = np.asarray(normalize(pixel, convention)).ravel()
    expected = (np.array([200, 100, 10]) / 255.0 - [0.1, 0.2, 0.3]) / [0.5, 0.25, 2.0]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_unbatched_video_keeps_its_rank():
    video = np.zeros((4, 40, 40, 3), np.uint8)
    assert tuple(preprocess_video(video, short_side=40, crop_size=32).shape) == (
        4,
        32,
        32,
        3,
    )


def test_resized_shape_ints_and_tensors_agree():
    for height, width in [(48, 60), (60, 48), (33, 33), (240, 427)]:
        python = resized_shape(height, width, 256)
        tensor = [int(v) for v in resized_shape(np.int32(height), np.int32(width), 256)]
        assert min(python) == 256
        assert list(python) == tensor


def test_bad_sizes_raise_value_errors():
    with pytest.raises(ValueError, match="crop_size=300 must be <= short_side=256"):
        check_sizes(256, 300)
    with pytest.raises(ValueError, match="short_side=0"):
        check_sizes(0, None)
    with pytest.raises(ValueError, match="video must be"):
        preprocess_video(np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="channel_order"):
        normalize(np.zeros((1, 3), np.uint8), {"channel_order": "hsv"})
