"""TensorBoard images written during training: heat maps, confusion, per class."""

import glob

import cv2
import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast.data import synthetic
from keras_slowfast.evaluation import metrics
from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training import trainer
from keras_slowfast.training.image_summaries import ImageSummaries
from keras_slowfast.training.recipe import TrainingRecipe


def _images(log_dir):
    """``{(tag, step): decoded RGB image}`` of every image summary in a folder."""
    found = {}
    for path in glob.glob(f"{log_dir}/events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "images":
                    continue
                width, height, png = tf.make_ndarray(value.tensor)[:3]
                image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
                assert image.shape[:2] == (int(height), int(width))
                found[(value.tag, event.step)] = image[..., ::-1]
    return found


def test_training_writes_heat_maps_and_evaluation_images(tmp_path):
    x, y = synthetic.make_motion_dataset(16, seed=0, num_frames=8, image_size=32)
    recipe = TrainingRecipe(epochs=2, warmup_epochs=1, batch_size=8)
    names = list(synthetic.MOTION_CLASSES)
    model = classifier_from_arguments(
        stage_depths=[1, 1, 1, 1], num_frames=8, num_classes=8, alpha=4
    )
    trainer.train(
        model,
        (x, y),
        validation_data=(x[:8], y[:8]),
        recipe=recipe,
        output_dir=str(tmp_path),
        checkpoints=False,
        backup=False,
        image_summaries=2,
        class_names=names,
        verbose=0,
    )
    images = _images(tmp_path / "logs" / "images")
    tags = sorted({tag for tag, _ in images})
    assert tags == [
        "evaluation/confusion_matrix",
        "evaluation/per_class_accuracy",
        "grad_cam/clip_0",
        "grad_cam/clip_1",
    ]
    assert sorted({step for _, step in images}) == [1, 2]
    heat = images[("grad_cam/clip_0", 2)]
    # 4 frames, each two 128-pixel panels (32 x 4) under a 22-pixel caption.
    assert heat.shape == (22 + 128, 4 * 2 * 128, 3)
    # The JET colours of a heat map, not the grey background of the clip.
    assert np.ptp(heat[30:, :, 2].astype(int) - heat[30:, :, 0]) > 100
    confusion = images[("evaluation/confusion_matrix", 2)]
    expected = metrics.plot_confusion_matrix(
        metrics.confusion_matrix(y[:8], model.predict(x[:8], verbose=0).argmax(-1), 8),
        class_names=names,
    )[..., ::-1]
    np.testing.assert_array_equal(confusion, expected)


def test_multi_label_gets_per_class_ap(tmp_path):
    rng = np.random.default_rng(0)
    scores = rng.random((12, 3)).astype("float32")
    targets = (rng.random((12, 3)) > 0.5).astype("float32")
    callback = ImageSummaries(
        str(tmp_path), (None, None), multi_label=True, class_names=["a", "b", "c"]
    )
    images = callback.evaluation_images(scores, targets)
    assert list(images) == ["evaluation/per_class_ap"]
    assert images["evaluation/per_class_ap"].dtype == np.uint8
    with pytest.raises(ValueError, match="num_clips=-1 must be an integer >= 0"):
        ImageSummaries(str(tmp_path), (None, None), num_clips=-1)


def test_config_checks_tensorboard_images():
    config = {"model": {}, "data": {}, "tensorboard_images": "three"}
    with pytest.raises(ValueError, match="tensorboard_images='three' must be"):
        trainer.check_config(config)


def test_every_epochs_and_label_shapes(tmp_path):
    x, y = synthetic.make_motion_dataset(8, seed=0, num_frames=8, image_size=32)
    model = classifier_from_arguments(
        stage_depths=[1, 1, 1, 1], num_frames=8, num_classes=8
    )
    callback = ImageSummaries(
        str(tmp_path / "images"), (x[:4], y[:4, None]), num_clips=0, every_epochs=2
    )
    trainer.train(
        model,
        (x, y),
        recipe=TrainingRecipe(epochs=3, batch_size=8),
        callbacks=[callback],
        verbose=0,
    )
    steps = sorted({step for _, step in _images(tmp_path / "images")})
    assert steps == [2, 3]  # every second epoch, and the last
    # Labels shaped (N, 1) are class ids, not one-hot rows.
    scores = np.eye(8, dtype="float32")[[1, 2, 3]]
    matrix_image = callback.evaluation_images(scores, np.array([[1], [2], [3]]))
    expected = metrics.plot_confusion_matrix(
        metrics.confusion_matrix([1, 2, 3], [1, 2, 3], 8)
    )[..., ::-1]
    np.testing.assert_array_equal(matrix_image["evaluation/confusion_matrix"], expected)
