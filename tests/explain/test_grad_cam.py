"""Grad-CAM maps checked against closed forms on tiny models."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_slowfast.explain import class_activation_map, default_layers, grad_cam
from keras_slowfast.layers.pack_pathways import slow_frame_indices
from tests.tiny_models import tiny_classifier, tiny_detector


@pytest.fixture(scope="module")
def classifier():
    keras.utils.set_random_seed(1)
    return tiny_classifier()


def _clip(batch=2, size=48, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 8, size, size, 3))


def _normalized(cam):
    cam = np.maximum(cam, 0.0)
    low = cam.min(axis=(1, 2, 3), keepdims=True)
    high = cam.max(axis=(1, 2, 3), keepdims=True)
    return (cam - low) / np.maximum(high - low, 1e-12)


def test_cam_is_the_positive_gradient_weighted_sum():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 4, 5, 6)).astype("float32")
    grads = rng.normal(size=(2, 3, 4, 5, 6)).astype("float32")
    weights = grads.mean(axis=(1, 2, 3), keepdims=True)
    expected = _normalized((weights * features).sum(-1))
    got = np.asarray(class_activation_map(features, grads, (3, 4, 5)))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert got.min() == 0.0 and np.allclose(got.max(axis=(1, 2, 3)), 1.0)
    hires = class_activation_map(features, grads, (3, 4, 5), weighting="elementwise")
    np.testing.assert_allclose(
        hires, _normalized((grads * features).sum(-1)), atol=1e-6
    )
    with pytest.raises(ValueError, match="weighting='max' must be one of"):
        class_activation_map(features, grads, (3, 4, 5), weighting="max")


def test_slow_map_frames_sit_at_the_sampled_frames():
    rng = np.random.default_rng(1)
    features = np.abs(rng.normal(size=(1, 4, 3, 3, 2))).astype("float32")
    grads = np.ones_like(features)
    got = np.asarray(class_activation_map(features, grads, (16, 3, 3), alpha=4))
    at_feature_frames = _normalized(features.sum(-1))
    indices = slow_frame_indices(16, 4)  # 0, 5, 10, 15
    np.testing.assert_allclose(got[:, indices], at_feature_frames, atol=1e-6)
    # Frame 2 lies 2/5 of the way from sampled frame 0 to sampled frame 5.
    between = 0.6 * at_feature_frames[:, 0] + 0.4 * at_feature_frames[:, 1]
    np.testing.assert_allclose(got[:, 2], between, atol=1e-6)


def test_classifier_gradients_are_the_head_weights(classifier):
    """Average pooling + dense: d logit_c / d A = W[:, c] / (t h w) everywhere."""
    clip = _clip()
    result = grad_cam(classifier, clip, class_index=[1, 3])
    assert result.layers == {"slow": "slow_res5", "fast": "fast_res5"}
    features = classifier.backbone.predict_on_batch(clip)
    kernel = np.asarray(classifier.get_layer("head").proj.kernel)
    slow_channels = features[0].shape[-1]
    columns = {"slow": kernel[:slow_channels], "fast": kernel[slow_channels:]}
    for key, maps in zip(("slow", "fast"), features, strict=True):
        grads = np.stack(
            [
                np.broadcast_to(columns[key][:, c], maps.shape[1:])
                / np.prod(maps.shape[1:4])
                for c in (1, 3)
            ]
        )
        expected = class_activation_map(
            maps, grads, clip.shape[1:4], alpha=4 if key == "slow" else None
        )
        np.testing.assert_allclose(result.maps[key], expected, atol=1e-5)
        assert result.maps[key].shape == (2, 8, 48, 48)
    np.testing.assert_array_equal(result.class_index, [1, 3])
    np.testing.assert_allclose(
        result.scores, classifier.predict_on_batch(clip), atol=1e-5
    )


def test_default_class_is_the_top_class_and_classes_give_other_maps(classifier):
    clip = _clip(batch=1)
    top = grad_cam(classifier, clip)
    assert top.class_index[0] == int(np.argmax(top.scores[0]))
    other = (top.class_index[0] + 1) % 5
    second = grad_cam(classifier, clip, class_index=int(other))
    assert np.abs(second.maps["fast"] - top.maps["fast"]).mean() > 0.01


def test_detector_explains_each_box_on_its_own():
    keras.utils.set_random_seed(2)
    detector = tiny_detector(3, dropout_rate=0.0)
    clip = _clip(batch=1, size=64)
    # Left and right quarters of the frame, and one padding row.
    boxes = np.array([[[0, 0, 16, 64], [48, 0, 64, 64], [-1, -1, -1, -1]]], "f")
    result = grad_cam(detector, clip, boxes=boxes)
    assert result.maps["fast"].shape == (1, 3, 8, 64, 64)
    assert result.class_index.shape == (1, 3)
    for j in range(2):  # the same maps as when the box is alone
        alone = grad_cam(detector, clip, boxes=boxes[:, j : j + 1])
        assert alone.class_index[0, 0] == result.class_index[0, j]
        for key in ("slow", "fast"):
            np.testing.assert_allclose(
                result.maps[key][:, j], alone.maps[key][:, 0], atol=1e-5
            )
    for key in ("slow", "fast"):
        left, right, padding = result.maps[key][0]
        # HiResCAM keeps each map within its box, give or take the bilinear
        # spread of one 16-pixel feature cell.
        assert left[..., 40:].max() == 0.0 and left.max() == 1.0
        assert right[..., :24].max() == 0.0 and right.max() == 1.0
        assert padding.max() == 0.0
    assert result.class_index[0, 2] == -1  # padding explains no class
    with pytest.raises(ValueError, match="boxes has no rows"):
        grad_cam(detector, clip, boxes=np.zeros((1, 0, 4), "f"))
    # Mean (Grad-CAM) weights are the same for every box of a class.
    same = grad_cam(detector, clip, boxes=boxes[:, :2], class_index=0, weighting="mean")
    np.testing.assert_allclose(
        same.maps["fast"][0, 0], same.maps["fast"][0, 1], atol=1e-5
    )


def test_layers_argument_and_errors(classifier):
    assert default_layers(classifier) == {"slow": "slow_res5", "fast": "fast_res5"}
    clip = _clip(batch=1)
    result = grad_cam(classifier, clip, layers=["fast_res4"])
    assert list(result.maps) == ["fast"] and result.maps["fast"].shape[1] == 8
    with pytest.raises(ValueError, match="one layer per pathway in a list"):
        grad_cam(classifier, clip, layers=["slow_res4", "slow_res5"])
    two = grad_cam(classifier, clip, layers={"s4": "slow_res4", "s5": "slow_res5"})
    assert sorted(two.maps) == ["s4", "s5"]
    with pytest.raises(ValueError, match="no such layer"):
        grad_cam(classifier, clip, layers={"fast": "fast_res9"})
    with pytest.raises(ValueError, match=r"class_index=7 must be in \[0, 5\)"):
        grad_cam(classifier, clip, class_index=7)
    with pytest.raises(ValueError, match="boxes are for detection models"):
        grad_cam(classifier, clip, boxes=np.zeros((1, 1, 4)))
    with pytest.raises(ValueError, match=r"clip must be \(batch, 8, None, None, 3\)"):
        grad_cam(classifier, np.zeros((1, 4, 32, 32, 3)))
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="SlowFastVideoClassifier or SlowFastDetector"):
        default_layers(plain)


def test_cam_accepts_backend_tensors():
    features = ops.ones((1, 2, 2, 2, 3))
    grads = ops.ones((1, 2, 2, 2, 3))
    got = np.asarray(class_activation_map(features, grads, (2, 4, 4)))
    assert got.shape == (1, 2, 4, 4) and np.all(got == 0.0)  # a flat map


TORCH_SCRIPT = """
import sys
import numpy as np
from keras_slowfast.explain import grad_cam
from tests.tiny_models import tiny_classifier, tiny_detector

model = tiny_classifier()
model.load_weights(sys.argv[1])
clip = np.load(sys.argv[2])
result = grad_cam(model, clip, class_index=[2, 4])
np.savez(sys.argv[3], **result.maps, scores=result.scores)
"""


def test_torch_backend_gives_the_same_maps(classifier, tmp_path):
    """The gradient step has a torch branch; its maps equal TensorFlow's."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    clip = _clip().astype("float32")
    np.save(tmp_path / "clip.npy", clip)
    classifier.save_weights(tmp_path / "tiny.weights.h5")
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-c", TORCH_SCRIPT, str(tmp_path / "tiny.weights.h5"),
         str(tmp_path / "clip.npy"), str(tmp_path / "maps.npz")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    torch_maps = np.load(tmp_path / "maps.npz")
    expected = grad_cam(classifier, clip, class_index=[2, 4])
    np.testing.assert_allclose(torch_maps["scores"], expected.scores, atol=1e-4)
    for key in ("slow", "fast"):
        np.testing.assert_allclose(torch_maps[key], expected.maps[key], atol=1e-4)
