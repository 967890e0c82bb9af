import numpy as np
import pytest

from keras_slowfast.data import transforms


def coordinate_clip(frames=2, height=48, width=64):
    """uint8 clip whose R = row, G = column, B = frame (exact, no codec)."""
    t, y, x = np.meshgrid(
        np.arange(frames), np.arange(height), np.arange(width), indexing="ij"
    )
    return np.stack([y, x, t], axis=-1).astype(np.uint8)


def test_short_side_size():
    assert transforms.short_side_size(480, 640, 256) == (256, 341)
    assert transforms.short_side_size(640, 480, 256) == (341, 256)
    assert transforms.short_side_size(100, 100, 64) == (64, 64)


def test_short_side_scale_shape_and_identity():
    clip = coordinate_clip()
    scaled = transforms.short_side_scale(clip, 24)
    assert scaled.shape == (2, 24, 32, 3)
    assert scaled.dtype == np.uint8
    assert transforms.short_side_scale(clip, 48) is clip
    rng = np.random.default_rng(0)
    sizes = {
        transforms.random_short_side_scale(clip, 24, 30, rng).shape[1]
        for _ in range(60)
    }
    assert sizes == set(range(24, 31))


@pytest.mark.parametrize(
    "shape, offsets",
    [
        ((48, 64), [(0, 0), (0, 8), (0, 16)]),  # landscape: left/center/right
        ((64, 48), [(0, 0), (8, 0), (16, 0)]),  # portrait: top/center/bottom
        ((48, 63), [(0, 0), (0, 8), (0, 15)]),  # center rounds up
    ],
)
def test_uniform_crop_positions(shape, offsets):
    clip = coordinate_clip(1, *shape)
    for index, (top, left) in enumerate(offsets):
        assert transforms.uniform_crop_offsets(*shape, 48, index) == (top, left)
        view = transforms.uniform_crop(clip, 48, index)
        assert view.shape == (1, 48, 48, 3)
        assert view[0, 0, 0, 0] == top and view[0, 0, 0, 1] == left


def test_random_crop_positions_cover_the_frame():
    clip = coordinate_clip(1, 48, 64)
    rng = np.random.default_rng(0)
    corners = set()
    for _ in range(300):
        view = transforms.random_crop(clip, 40, rng)
        top, left = int(view[0, 0, 0, 0]), int(view[0, 0, 0, 1])
        # The crop is a contiguous window at that corner.
        np.testing.assert_array_equal(view, clip[:, top : top + 40, left : left + 40])
        corners.add((top, left))
    assert {t for t, _ in corners} == set(range(9))
    assert {x for _, x in corners} == set(range(25))


def test_horizontal_flip():
    clip = coordinate_clip()
    flipped = transforms.horizontal_flip(clip)
    np.testing.assert_array_equal(flipped[:, :, :, 1], 63 - clip[:, :, :, 1])
    np.testing.assert_array_equal(flipped[..., 0], clip[..., 0])


def test_train_transform_flips_about_half_the_time():
    clip = coordinate_clip(1, 48, 64)
    rng = np.random.default_rng(3)
    flips = 0
    for _ in range(200):
        out = transforms.train_transform(
            clip, short_side_range=(48, 48), crop_size=32, flip=True, rng=rng
        )
        columns = out[0, 0, :, 1].astype(int)
        step = np.unique(np.diff(columns))
        assert step.tolist() in ([1], [-1])
        flips += step[0] == -1
    assert 70 < flips < 130
    out = transforms.train_transform(
        clip, short_side_range=(48, 48), crop_size=32, flip=False, rng=rng
    )
    assert (np.diff(out[0, 0, :, 1].astype(int)) == 1).all()


def test_eval_transform_views():
    clip = coordinate_clip(2, 96, 128)
    views = transforms.eval_transform(clip, short_side=48, crop_size=48, num_crops=3)
    assert views.shape == (3, 2, 48, 48, 3)
    one = transforms.eval_transform(clip, short_side=48, crop_size=48, num_crops=1)
    np.testing.assert_array_equal(one[0], views[1])
    with pytest.raises(ValueError, match="num_crops=2"):
        transforms.eval_transform(clip, short_side=48, crop_size=48, num_crops=2)


def test_crop_errors():
    clip = coordinate_clip()
    with pytest.raises(ValueError, match="exceeds"):
        transforms.random_crop(clip, 49, np.random.default_rng(0))
    with pytest.raises(ValueError, match="does not fit"):
        transforms.crop(clip, 10, 0, 48)
    with pytest.raises(ValueError, match="shape"):
        transforms.horizontal_flip(clip[0])
