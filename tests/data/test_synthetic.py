"""Tests for the built-in moving-shape dataset."""

import numpy as np
import pytest

from keras_slowfast.data import synthetic
from keras_slowfast.data.decode import read_frames_at
from keras_slowfast.layers.pack_pathways import slow_frame_indices


def shift_between(frame_a, frame_b):
    """The (row, column) torus shift that best maps frame a's shape onto b's."""
    a, b = frame_a.max(axis=-1) > 112, frame_b.max(axis=-1) > 112
    half = a.shape[0] // 2
    shifts = [(dy, dx) for dy in range(-half, half) for dx in range(-half, half)]
    overlaps = [np.sum(np.roll(a, s, axis=(0, 1)) & b) for s in shifts]
    return shifts[int(np.argmax(overlaps))]


def test_deterministic_and_balanced():
    a, labels = synthetic.make_motion_dataset(16, seed=5, normalize=False)
    b, _ = synthetic.make_motion_dataset(16, seed=5, normalize=False)
    c, _ = synthetic.make_motion_dataset(16, seed=6, normalize=False)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (16, 16, 40, 40, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(labels), [2] * 8)
    normalized, _ = synthetic.make_motion_dataset(2, seed=5)
    np.testing.assert_allclose(normalized, (a[:2] / 255 - 0.45) / 0.225, atol=1e-5)


def test_normalize_clip_follows_the_given_preprocessor():
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    clip = synthetic.make_motion_clip(3, np.random.default_rng(0))
    bgr = VideoPreprocessor(
        mean=[0.4, 0.45, 0.5], std=[0.2, 0.225, 0.25], channel_order="bgr"
    )
    out = synthetic.normalize_clip(clip, bgr)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    expected = (clip[..., ::-1] / 255 - [0.4, 0.45, 0.5]) / [0.2, 0.225, 0.25]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_class_is_motion_not_appearance():
    rng = np.random.default_rng(0)
    names = synthetic.MOTION_CLASSES
    for name, shift in (("right_slow", (0, 1)), ("up_fast", (-4, 0))):
        clip = synthetic.make_motion_clip(names.index(name), rng, noise=0)
        assert shift_between(clip[0], clip[1]) == shift, name
    # The same random draw with another label has the same first frame.
    first = synthetic.make_motion_clip(0, np.random.default_rng(9))[0]
    other = synthetic.make_motion_clip(5, np.random.default_rng(9))[0]
    np.testing.assert_array_equal(first, other)


def test_fast_directions_alias_for_the_slow_pathway():
    # Slow pathway frames at alpha=4: a fast shape moves half the frame between them.
    indices = slow_frame_indices(16, 4)
    names = synthetic.MOTION_CLASSES
    left = synthetic.make_motion_clip(
        names.index("left_fast"), np.random.default_rng(1), noise=0
    )
    right = synthetic.make_motion_clip(
        names.index("right_fast"), np.random.default_rng(1), noise=0
    )
    np.testing.assert_array_equal(left[indices], right[indices])
    assert not np.array_equal(left, right)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_clips"):
        synthetic.make_motion_dataset(0)
    with pytest.raises(ValueError, match="label"):
        synthetic.make_motion_clip(8, np.random.default_rng(0))


def test_tf_dataset_and_video_files(tmp_path):
    dataset = synthetic.motion_dataset(6, batch_size=4, num_frames=8, image_size=32)
    clips, labels = next(iter(dataset))
    assert tuple(clips.shape) == (4, 8, 32, 32, 3) and tuple(labels.shape) == (4,)
    written = synthetic.write_motion_videos(
        str(tmp_path), 1, num_frames=8, image_size=32
    )
    assert len(written) == 8
    path, label = written[3]
    assert synthetic.MOTION_CLASSES[label] in path
    frames = read_frames_at(path, np.arange(8) / 16)  # written at 16 fps
    assert frames.shape == (8, 32, 32, 3)
