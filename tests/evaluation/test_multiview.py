import logging

import keras
import numpy as np
import pytest

from keras_slowfast.data import VideoClipDataset, VideoDataConfig
from keras_slowfast.evaluation import MultiviewResult, evaluate_multiview
from keras_slowfast.models.factories import classifier_from_arguments
from tests.data.video_files import write_broken_files, write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiview")
    good = [
        write_video(root / "a.avi", 40),
        write_video(root / "b.avi", 30, fps=15),
    ]
    broken = write_broken_files(root)
    return good, broken


def tiny_model(**kwargs):
    return classifier_from_arguments(
        stage_depths=[1, 1, 1, 1],
        alpha=4,
        beta_inv=8,
        num_frames=8,
        num_classes=5,
        image_size=None,
        **kwargs,
    )


def config(**overrides):
    options = dict(num_frames=8, eval_short_side=32, eval_crop_size=32)
    options.update(overrides)
    return VideoDataConfig(**options)


def manual_scores(model, data, num_views, activation):
    """Scores per video computed view by view, independently of the function."""
    clips = np.stack([c.numpy() for c, _ in data.build(False)])
    logits = keras.ops.convert_to_numpy(model(clips, training=False))
    if activation == "softmax":
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
    else:
        probs = 1 / (1 + np.exp(-logits))
    return probs.reshape(len(data), num_views, -1).mean(axis=1)


def test_single_label_averages_softmax_over_all_views(videos):
    good, _ = videos
    model = tiny_model()
    data = VideoClipDataset(
        good, [1, 3], config=config(num_clips=2, num_crops=3), num_classes=5
    )
    result = evaluate_multiview(model, data, num_clips=2, num_crops=3, batch_size=4)
    assert isinstance(result, MultiviewResult)
    assert result.scores.shape == (2, 5)
    np.testing.assert_array_equal(result.num_views, [6, 6])
    np.testing.assert_allclose(result.scores.sum(axis=1), 1.0, atol=1e-5)
    expected = manual_scores(model, data, 6, "softmax")
    np.testing.assert_allclose(result.scores, expected, atol=1e-5)
    accuracy = result.top_k_accuracy(1)
    assert accuracy == np.mean(np.argmax(expected, 1) == np.array([1, 3]))
    assert result.top_k_accuracy(5) == 1.0
    assert result.skipped == []


def test_paths_multi_label_sigmoid_and_model_convention(videos):
    good, _ = videos
    convention = {"mean": [0.5] * 3, "std": [0.25] * 3, "channel_order": "bgr"}
    model = tiny_model(input_convention=convention)
    result = evaluate_multiview(
        model,
        good,
        num_clips=3,
        num_crops=1,
        multi_label=True,
        config=config(),
        verbose=0,
    )
    np.testing.assert_array_equal(result.num_views, [3, 3])
    assert (result.scores > 0).all() and (result.scores < 1).all()
    reference = VideoClipDataset(
        good,
        config=config(num_clips=3, num_crops=1, input_convention=convention),
    )
    expected = manual_scores(model, reference, 3, "sigmoid")
    np.testing.assert_allclose(result.scores, expected, atol=1e-5)


def test_model_probabilities_are_not_squashed_twice(videos):
    good, _ = videos
    model = tiny_model(activation="softmax")
    data = VideoClipDataset(good[:1], config=config(num_clips=2, num_crops=1))
    result = evaluate_multiview(model, data, num_clips=2, num_crops=1, verbose=0)
    clips = np.stack([c.numpy() for c, _ in data.build(False)])
    probs = keras.ops.convert_to_numpy(model(clips, training=False))
    np.testing.assert_allclose(result.scores[0], probs.mean(axis=0), atol=1e-6)


def test_broken_videos_get_nan_and_are_counted(videos, caplog):
    good, broken = videos
    paths = [good[0], broken["random_bytes"], good[1], broken["empty"]]
    data = VideoClipDataset(paths, config=config(num_clips=2, num_crops=1))
    with caplog.at_level(logging.WARNING, logger="keras_slowfast"):
        result = evaluate_multiview(
            tiny_model(), data, num_clips=2, num_crops=1, verbose=0
        )
    np.testing.assert_array_equal(result.num_views, [2, 0, 2, 0])
    assert np.isnan(result.scores[[1, 3]]).all()
    assert np.isfinite(result.scores[[0, 2]]).all()
    assert result.skipped == [broken["random_bytes"], broken["empty"]]
    assert data.stats.skipped == 4  # 2 clips of each bad video
    assert sorted(data.stats.bad_files) == sorted(result.skipped)
    messages = [r.getMessage() for r in caplog.records if r.name == "keras_slowfast"]
    assert len(messages) == 2 and broken["empty"] in messages[1]


def test_errors(videos, tmp_path):
    good, _ = videos
    model = tiny_model()
    data = VideoClipDataset(good, config=config(num_frames=16))
    with pytest.raises(ValueError, match="num_frames=16 differs"):
        evaluate_multiview(model, data, verbose=0)
    with pytest.raises(ValueError, match="VideoClipDataset or a list"):
        evaluate_multiview(model, "videos.csv", verbose=0)
    with pytest.raises(ValueError, match="activation='relu'"):
        evaluate_multiview(model, good, config=config(), activation="relu")
    # A file with no decodable frame: a clear ValueError, not a TF trace.
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ValueError, match="none of the 1 videos could be"):
        evaluate_multiview(
            model, [str(garbage)], num_clips=1, num_crops=1, config=config(), verbose=0
        )
    # A truncated file plays (frames 30+ lost): it is evaluated, not rejected.
    data = open(write_video(tmp_path / "long.avi", 100), "rb").read()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: int(len(data) * 0.3)])
    result = evaluate_multiview(
        model, [str(half)], num_clips=1, num_crops=1, config=config(), verbose=0
    )
    assert result is not None
