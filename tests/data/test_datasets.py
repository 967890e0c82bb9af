import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast.data import transforms
from keras_slowfast.data.datasets import (
    VideoClipDataset,
    VideoDataConfig,
    read_folder_tree,
    read_multilabel_list,
    read_video_list,
)
from keras_slowfast.data.decode import VideoReader, read_frames_at
from keras_slowfast.layers import PackPathways, slow_frame_indices
from tests.data.video_files import (
    BAR_WIDTH,
    column_profile,
    frame_index,
    unnormalize,
    write_broken_files,
    write_video,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    os.makedirs(root / "walk")
    os.makedirs(root / "jump" / "sub")
    write_video(root / "walk" / "v0.avi", 100)
    write_video(root / "walk" / "v1.avi", 60, fps=15)
    write_video(root / "jump" / "v2.mp4", 80, fourcc="mp4v")
    write_video(root / "jump" / "sub" / "short.avi", 10)
    (root / "jump" / "readme.txt").write_text("not listed: wrong extension")
    os.makedirs(root / "broken")
    write_broken_files(root / "broken")
    truncated = open(root / "walk" / "v0.avi", "rb").read()
    with open(root / "broken" / "half.avi", "wb") as handle:
        handle.write(truncated[: int(len(truncated) * 0.3)])
    return root


def small_config(**overrides):
    options = dict(
        num_frames=8,
        sampling_rate=2,
        train_short_side=(96, 96),
        train_crop_size=96,
        eval_short_side=48,
        eval_crop_size=48,
        num_clips=3,
        num_crops=3,
        num_parallel_calls=2,
        seed=3,
    )
    options.update(overrides)
    return VideoDataConfig(**options)


def as_uint8(clip):
    return np.clip(np.round(unnormalize(clip)), 0, 255)


# -- list readers -------------------------------------------------------------


def test_read_video_list_formats(root, tmp_path):
    listing = tmp_path / "train.csv"
    listing.write_text(
        f"path,label\nwalk/v0.avi,0\n{root}/walk/v1.avi,1\n\n# a comment\n"
    )
    paths, labels, names = read_video_list(str(listing), root=str(root))
    assert paths == [str(root / "walk" / "v0.avi"), str(root / "walk" / "v1.avi")]
    assert labels == [0, 1] and names is None

    spaced = root / "list.txt"  # relative paths resolve against the list's folder
    spaced.write_text("walk/v0.avi  jump\njump/v2.mp4 walk\nwalk/v1.avi jump\n")
    paths, labels, names = read_video_list(str(spaced))
    assert paths[1] == str(root / "jump" / "v2.mp4")
    assert names == ["jump", "walk"] and labels == [0, 1, 0]

    bad = tmp_path / "bad.txt"
    bad.write_text("walk/v0.avi 0\nlonely_path\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 'path label'"):
        read_video_list(str(bad))


def test_read_folder_tree(root):
    paths, labels, names = read_folder_tree(str(root))
    assert names == ["broken", "jump", "walk"]
    by_name = {
        os.path.basename(p): names[label]
        for p, label in zip(paths, labels, strict=True)
    }
    assert by_name["v0.avi"] == "walk" and by_name["v2.mp4"] == "jump"
    assert by_name["short.avi"] == "jump"  # nested folders belong to the class
    assert "readme.txt" not in by_name
    with pytest.raises(ValueError, match="not a directory"):
        read_folder_tree(str(root / "nope"))


def test_read_multilabel_list(root, tmp_path):
    listing = tmp_path / "charades.txt"
    listing.write_text(
        f"{root}/walk/v0.avi 3,1\n{root}/walk/v1.avi 2 4\n{root}/jump/v2.mp4\n"
    )
    paths, label_lists = read_multilabel_list(str(listing))
    assert label_lists == [[1, 3], [2, 4], []]
    data = VideoClipDataset.from_multilabel_list(str(listing), num_classes=6)
    np.testing.assert_array_equal(
        data.targets,
        [[0, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]],
    )
    _, target = next(iter(data.build(False, batch_size=None)))
    assert target.dtype == tf.float32 and target.shape == (6,)
    with pytest.raises(ValueError, match="num_classes=3"):
        VideoClipDataset(paths, label_lists, num_classes=3, multi_label=True)


def test_missing_files_are_listed_at_construction(root):
    paths = [str(root / "walk" / "v0.avi"), "/no/such/a.mp4", "/no/such/b.mp4"]
    with pytest.raises(ValueError) as error:
        VideoClipDataset(paths, [0, 1, 2])
    message = str(error.value)
    assert "2 of 3" in message and "/no/such/a.mp4" in message
    assert "/no/such/b.mp4" in message


def test_config_validation():
    with pytest.raises(ValueError, match="train_crop_size=300"):
        VideoDataConfig(train_crop_size=300)
    with pytest.raises(ValueError, match="num_crops=2"):
        VideoDataConfig(num_crops=2)
    with pytest.raises(ValueError, match="backend='decord'"):
        VideoDataConfig(backend="decord")
    with pytest.raises(ValueError, match="num_frames=0"):
        VideoDataConfig(num_frames=0)
    assert VideoDataConfig().input_convention["std"] == [0.225] * 3
    with pytest.raises(ValueError, match="channel_order='yuv'"):
        VideoDataConfig(input_convention={"channel_order": "yuv"})
    with pytest.raises(ValueError, match="unknown keys"):
        VideoDataConfig(input_convention={"scale": 255})


# -- training pipeline --------------------------------------------------------


def crop_position(frame, width=128, crop=96):
    """(left, flipped) of a 96-wide crop of the bar pattern, by best match."""
    profile = column_profile(frame)
    best = None
    for left in range(width - crop + 1):
        expected = (np.arange(left, left + crop) // BAR_WIDTH) * 32.0
        for flipped in (False, True):
            candidate = expected[::-1] if flipped else expected
            error = np.abs(profile - candidate).mean()
            if best is None or error < best[0]:
                best = (error, left, flipped)
    assert best[0] < 6, f"no crop matches the bar pattern (error {best[0]})"
    return best[1], best[2]


def test_training_clips_frames_crops_flips(root):
    paths = [str(root / "walk" / "v0.avi"), str(root / "walk" / "v1.avi")]
    data = VideoClipDataset(paths, [0, 1], config=small_config())
    dataset = data.build(True, repeat=True)
    assert dataset.element_spec[0].shape == (8, 96, 96, 3)
    lefts, flips = set(), set()
    for clip, label in dataset.take(24):
        clip = as_uint8(clip.numpy())
        indices = np.array([frame_index(frame) for frame in clip])
        # 30 fps video: stride 2; 15 fps video resampled to 30 fps: stride 1.
        stride, length = (2, 100) if int(label) == 0 else (1, 60)
        np.testing.assert_array_equal(np.diff(indices), stride)
        assert 0 <= indices[0] and indices[-1] < length
        left, flipped = crop_position(clip[0])
        for frame in clip[1:]:  # one crop and flip for the whole clip
            assert crop_position(frame) == (left, flipped)
        lefts.add(left)
        flips.add(flipped)
    assert flips == {False, True}
    assert len(lefts) > 5
    assert data.stats.decoded >= 24 and data.stats.skipped == 0


def test_training_is_reproducible_and_varies_by_epoch(root):
    paths = [str(root / "walk" / "v0.avi"), str(root / "jump" / "v2.mp4")]

    def run(seed):
        data = VideoClipDataset(paths, [0, 1], config=small_config(seed=seed))
        return [(c.numpy(), int(y)) for c, y in data.build(True, repeat=True).take(6)]

    first, again, other = run(3), run(3), run(4)
    for (a, ya), (b, yb) in zip(first, again, strict=True):
        assert ya == yb
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b) for (a, _), (b, _) in zip(first, other, strict=True)
    )
    # Each pass over the videos draws new clips.
    epochs = [(c, y) for c, y in first]
    assert not all(
        np.array_equal(epochs[i][0], epochs[i + 2][0]) for i in range(0, 4, 2)
    )


def test_epochs_are_functions_of_seed_and_epoch_and_resume_by_skipping(root):
    paths = [
        str(root / "walk" / "v0.avi"),
        str(root / "walk" / "v1.avi"),
        str(root / "jump" / "v2.mp4"),
        str(root / "jump" / "sub" / "short.avi"),
    ]
    data = VideoClipDataset(paths, [0, 1, 2, 3], config=small_config(seed=None))

    def epoch(number, seed=5, skip=0):
        batches = data.build(True, 2, epoch=number, seed=seed, skip_batches=skip)
        return [(c.numpy(), y.numpy()) for c, y in batches]

    first = epoch(1)
    assert [len(y) for _, y in first] == [2, 2]
    # Another pass in this process, or a fresh start, gives the same epoch.
    for a, b in zip(first, epoch(1), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    order, seeds = data.epoch_order(1, 5)
    assert sorted(order) == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.concatenate([y for _, y in first]), order)
    # A resumed epoch is the rest of the same epoch.
    (resumed,) = epoch(1, skip=1)
    np.testing.assert_array_equal(resumed[0], first[1][0])
    assert not np.array_equal(epoch(2)[0][0], first[0][0])
    assert not np.array_equal(epoch(1, seed=6)[0][0], first[0][0])
    with pytest.raises(ValueError, match="one training epoch"):
        data.build(False, 2, epoch=1)


def test_batching_and_sharding_by_input_context(root):
    paths = [
        str(root / "walk" / "v0.avi"),
        str(root / "walk" / "v1.avi"),
        str(root / "jump" / "v2.mp4"),
        str(root / "jump" / "sub" / "short.avi"),
    ]
    data = VideoClipDataset(paths, [0, 1, 2, 3], config=small_config())
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2
        )
        batches = list(data.build(True, batch_size=4, input_context=context))
        assert len(batches) == 1
        clips, labels = batches[0]
        assert clips.shape == (2, 8, 96, 96, 3) and clips.dtype == tf.float32
        seen.append(sorted(labels.numpy().tolist()))
    assert seen == [[0, 2], [1, 3]]


# -- evaluation views ---------------------------------------------------------


def test_eval_views_exact(root):
    path = str(root / "walk" / "v0.avi")
    data = VideoClipDataset([path], [0], config=small_config())
    views = [(c.numpy(), int(y)) for c, y in data.build(False)]
    assert len(views) == 9  # 3 clips x 3 crops, clip-major
    # 100 frames at 30 fps = 3.33 s; 8 frames every 2/30 s span 0.53 s -> starts
    # at 0, 1.4 and 2.8 s: frames 0, 42, 84.
    starts = [0, 42, 84]
    for view, (clip, label) in enumerate(views):
        assert label == 0
        expected = starts[view // 3] + 2 * np.arange(8)
        assert [frame_index(f) for f in as_uint8(clip)] == expected.tolist()
        # Short side 96 -> 48 (width 64); crops at x = 0, 8, 16 of the scaled
        # frame, i.e. original columns 0, 16, 32: first bar 0, 1, 2.
        profile = column_profile(as_uint8(clip)[0])
        assert abs(profile[2] - 32 * (view % 3)) < 8
        frames = read_frames_at(path, expected / 30)
        crop = transforms.uniform_crop(
            transforms.short_side_scale(frames, 48), 48, view % 3
        )
        reference = (crop / 255.0 - 0.45) / 0.225
        np.testing.assert_allclose(clip, reference, atol=1e-6)


def test_eval_single_center_crop_and_short_video(root):
    path = str(root / "jump" / "sub" / "short.avi")
    data = VideoClipDataset([path], [1], config=small_config(num_crops=1, num_clips=2))
    views = [c.numpy() for c, _ in data.build(False)]
    assert len(views) == 2
    for clip in views:  # 10 frames: both clips are the whole video, last repeated
        assert [frame_index(f) for f in as_uint8(clip)] == [0, 2, 4, 6, 8, 9, 9, 9]
        assert abs(column_profile(as_uint8(clip)[0])[2] - 32) < 8  # center crop


def test_normalization_follows_the_model_convention(root):
    path = str(root / "walk" / "v0.avi")
    convention = {
        "mean": [0.1, 0.2, 0.3],
        "std": [0.3, 0.2, 0.1],
        "channel_order": "bgr",
    }
    plain = VideoClipDataset([path], config=small_config(num_clips=1, num_crops=1))
    custom = VideoClipDataset(
        [path],
        config=small_config(num_clips=1, num_crops=1, input_convention=convention),
    )
    a = next(iter(plain.build(False)))[0].numpy()
    b = next(iter(custom.build(False)))[0].numpy()
    rgb01 = a * 0.225 + 0.45
    expected = (rgb01[..., ::-1] - np.array([0.1, 0.2, 0.3])) / np.array(
        [0.3, 0.2, 0.1]
    )
    np.testing.assert_allclose(b, expected, atol=1e-5)


def test_pathway_packing_of_a_decoded_clip(root):
    path = str(root / "walk" / "v0.avi")
    data = VideoClipDataset(
        [path], config=small_config(num_frames=16, num_clips=1, num_crops=1)
    )
    clip = next(iter(data.build(False)))[0].numpy()
    # One centered clip: 16 frames every 2/30 s span 32 frames of the 100;
    # centered, it starts at frame (100 - 32) / 2 = 34.
    fast_indices = 34 + 2 * np.arange(16)
    slow, fast = PackPathways(alpha=4)(clip[None])
    slow_indices = [frame_index(f) for f in as_uint8(np.asarray(slow)[0])]
    assert slow_indices == fast_indices[slow_frame_indices(16, 4)].tolist()
    assert slow_indices == [34, 44, 54, 64]  # floor(linspace(0, 15, 4)) = 0, 5, 10, 15
    assert [
        frame_index(f) for f in as_uint8(np.asarray(fast)[0])
    ] == fast_indices.tolist()


def test_pyav_backend_matches_opencv(root):
    paths = [str(root / "walk" / "v0.avi"), str(root / "jump" / "v2.mp4")]
    views = {}
    for backend in ("opencv", "pyav"):
        data = VideoClipDataset(
            paths, [0, 1], config=small_config(backend=backend, num_clips=2)
        )
        views[backend] = np.stack([c.numpy() for c, _ in data.build(False)])
    assert views["pyav"].shape == (12, 8, 48, 48, 3)
    for a, b in zip(views["opencv"], views["pyav"], strict=True):
        assert [frame_index(f) for f in as_uint8(a)] == [
            frame_index(f) for f in as_uint8(b)
        ]
    # Same frames; the two FFmpeg builds may round YUV->RGB differently.
    assert np.abs(views["opencv"] - views["pyav"]).mean() < 0.05


# -- broken files -------------------------------------------------------------


def test_broken_files_are_skipped_once_each_and_counted(root, caplog):
    bad = sorted(str(root / "broken" / n) for n in os.listdir(root / "broken"))
    # half.avi plays (its first 30 frames survive the cut): never skipped.
    bad = [p for p in bad if not p.endswith(("_good_source.mp4", "half.avi"))]
    good = [str(root / "walk" / "v0.avi"), str(root / "jump" / "v2.mp4")]
    good.append(str(root / "broken" / "half.avi"))
    config = small_config(num_frames=32, eval_short_side=96, eval_crop_size=96)
    data = VideoClipDataset(good + bad, config=config)
    with caplog.at_level(logging.WARNING, logger="keras_slowfast"):
        clips = list(data.build(True, repeat=True).take(6))  # three passes
    assert len(clips) == 6
    warnings = [r for r in caplog.records if r.name == "keras_slowfast"]
    warned = [p for p in bad if any(p in r.getMessage() for r in warnings)]
    assert warned == bad and len(warnings) == len(bad)  # one warning per file
    assert sorted(data.stats.bad_files) == bad
    assert data.stats.skipped >= 2 * len(bad)  # skips are counted every pass
    assert data.stats.decoded >= 6


def test_every_file_bad_raises_clear_errors(root):
    bad = [
        str(root / "broken" / n)
        for n in ("random.mp4", "empty.mp4", "notes.avi", "zero.avi", "truncated.mp4")
    ]
    with pytest.raises(ValueError, match="none of the 5 videos could be opened"):
        VideoClipDataset(bad)
    # Unchecked at construction, a list of undecodable files fails when iterated.
    zero = VideoClipDataset(
        [str(root / "broken" / "zero.avi")], config=small_config(), check_files=False
    )
    with pytest.raises(tf.errors.OpError, match="every one of the 1 videos failed"):
        list(zero.build(True, repeat=True).take(1))


def test_truncated_file_gives_full_clips(root):
    """The first frames of 100 survive the cut: clips past it repeat the last
    surviving frame, as a player shows the last frame it has."""
    path = str(root / "broken" / "half.avi")
    with VideoReader(path) as reader:
        survivors = [frame_index(frame) for _, frame in reader.iter_frames()]
    assert 10 < len(survivors) < 50 and survivors == list(range(len(survivors)))
    half = VideoClipDataset([path], config=small_config(num_frames=32))
    clips = [c.numpy() for c, _ in half.build(False)]
    assert len(clips) == 9 and half.stats.skipped == 0
    last = [frame_index(f) for f in as_uint8(clips[-1])]
    assert last[-1] == survivors[-1] and len(last) == 32


def test_bad_labels():
    with pytest.raises(ValueError, match="paths is empty"):
        VideoClipDataset([])


def test_from_folder_and_from_list_pipelines(root, tmp_path, caplog):
    config = small_config(num_clips=1, num_crops=1)
    with caplog.at_level(logging.WARNING, logger="keras_slowfast"):
        data = VideoClipDataset.from_folder(str(root), config=config)
        labels = sorted(int(y) for _, y in data.build(False))
    assert data.class_names == ["broken", "jump", "walk"] and data.num_classes == 3
    # Good: broken/_good_source.mp4, broken/half.avi (truncated, plays),
    # jump/v2.mp4, jump/sub/short.avi, walk/v0, v1.
    assert labels == [0, 0, 1, 1, 2, 2]
    assert data.stats.decoded == 6 and data.stats.skipped == 5
    assert len(caplog.records) == 5

    listing = tmp_path / "val.txt"
    listing.write_text("walk/v0.avi walk\njump/v2.mp4 jump\n")
    data = VideoClipDataset.from_list(str(listing), root=str(root), config=config)
    assert data.class_names == ["jump", "walk"]
    assert [int(y) for _, y in data.build(False)] == [1, 0]


def test_clips_train_and_evaluate_a_slowfast_model(root):
    import keras  # noqa: PLC0415

    from tests.tiny_models import tiny_task  # noqa: PLC0415

    model = tiny_task(2)
    config = small_config(
        train_short_side=(32, 40),
        train_crop_size=32,
        eval_short_side=32,
        eval_crop_size=32,
        num_clips=1,
        num_crops=1,
        input_convention=model.input_convention,
    )
    paths = [str(root / "walk" / "v0.avi"), str(root / "jump" / "v2.mp4")]
    data = VideoClipDataset(paths, [0, 1], config=config)
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(data.build(True, batch_size=2), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
    loss = model.evaluate(data.build(False, batch_size=2), verbose=0)
    assert np.isfinite(loss)
