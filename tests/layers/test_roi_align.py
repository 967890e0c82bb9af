"""RoIAlign against an independent float64 reference of torchvision's definition."""

import keras
import numpy as np
import pytest

from keras_slowfast.layers import ROIAlign, roi_align
from tests.roi_align_reference import reference_roi_align
from tests.test_case import (
    run_layer_test,
    run_on_torch_backend,
    run_serialization_test,
)


def _random_boxes(rng, batch, num_boxes, image_size):
    """Boxes of many sizes, several partly (or wholly) outside the image."""
    low = rng.uniform(-0.4, 0.9, size=(batch, num_boxes, 2)) * image_size
    size = rng.uniform(0.02, 1.2, size=(batch, num_boxes, 2)) * image_size
    return np.concatenate([low, low + size], axis=-1).astype("float32")


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [0, 1, 2])
def test_matches_reference(aligned, sampling_ratio):
    rng = np.random.default_rng(sampling_ratio + 10 * aligned)
    features = rng.normal(size=(2, 9, 11, 3)).astype("float32")
    image_size = 16 * 10
    boxes = _random_boxes(rng, 2, 6, image_size)
    # A tiny box (clamped to one pixel when aligned=False) and one fully outside.
    boxes[0, 0] = [40.0, 50.0, 42.0, 51.0]
    boxes[1, 0] = [-90.0, -70.0, -20.0, -30.0]
    output_size = (3, 4)
    expected = reference_roi_align(
        features, boxes, output_size, 1 / 16, sampling_ratio, aligned
    )
    actual = roi_align(
        features,
        boxes,
        output_size=output_size,
        spatial_scale=1 / 16,
        sampling_ratio=sampling_ratio,
        aligned=aligned,
    )
    actual = keras.ops.convert_to_numpy(actual)
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= 1e-5
    # The cases above must exercise the out-of-map rule: some outputs are zero.
    assert np.any(np.all(expected[1, 0] == 0.0))


def test_large_boxes_adaptive_grid():
    """Boxes much larger than the map: many samples per bin, most outside."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(1, 5, 6, 2)).astype("float32")
    boxes = np.array([[[-300.0, -200.0, 500.0, 420.0], [10.0, 5.0, 95.0, 70.0]]])
    for aligned in (False, True):
        expected = reference_roi_align(features, boxes, (7, 7), 1 / 16, 0, aligned)
        actual = keras.ops.convert_to_numpy(
            roi_align(features, boxes, 7, spatial_scale=1 / 16, aligned=aligned)
        )
        assert np.max(np.abs(actual - expected)) <= 1e-5


def test_whole_map_box_of_constant_map_is_constant():
    features = np.full((1, 8, 8, 1), 3.0, "float32")
    boxes = np.array([[[0.0, 0.0, 128.0, 128.0]]], "float32")
    out = roi_align(features, boxes, 7, spatial_scale=1 / 16, aligned=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), 3.0, atol=1e-6)


def test_layer_contract():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    boxes = _random_boxes(rng, 2, 3, 128)
    out = run_layer_test(
        ROIAlign,
        {"output_size": 7, "spatial_scale": 1 / 16, "sampling_ratio": 0},
        [features, boxes],
        expected_output_shape=(2, 3, 7, 7, 4),
    )
    expected = reference_roi_align(features, boxes, (7, 7), 1 / 16, 0, False)
    assert np.max(np.abs(keras.ops.convert_to_numpy(out) - expected)) <= 1e-5
    run_serialization_test(ROIAlign(output_size=(5, 3), aligned=True))


def test_dynamic_spatial_size_in_functional_model():
    features = keras.Input((None, None, 4))
    boxes = keras.Input((None, 4))
    model = keras.Model(
        [features, boxes], ROIAlign(2, spatial_scale=0.5)([features, boxes])
    )
    rng = np.random.default_rng(1)
    values = rng.normal(size=(1, 6, 5, 4)).astype("float32")
    box_values = np.array([[[1.0, 2.0, 7.0, 9.0]]], "float32")
    out = model.predict([values, box_values], verbose=0)
    expected = reference_roi_align(values, box_values, (2, 2), 0.5, 0, False)
    assert np.max(np.abs(out - expected)) <= 1e-5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"output_size": 0}, "output_size"),
        ({"sampling_ratio": -1}, "sampling_ratio"),
        ({"spatial_scale": 0.0}, "spatial_scale"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ROIAlign(**kwargs)


def test_bad_box_shape():
    with pytest.raises(ValueError, match="boxes"):
        roi_align(np.zeros((1, 4, 4, 2), "float32"), np.zeros((1, 3), "float32"))


@pytest.mark.torch
def test_same_result_on_the_torch_backend():
    """The layer is plain keras.ops: run it under KERAS_BACKEND=torch too."""
    script = (
        "import numpy as np, keras\n"
        "from keras_slowfast.layers import roi_align\n"
        "from tests.layers.test_roi_align import _random_boxes\n"
        "from tests.roi_align_reference import reference_roi_align\n"
        "assert keras.backend.backend() == 'torch'\n"
        "rng = np.random.default_rng(5)\n"
        "f = rng.normal(size=(2, 9, 11, 3)).astype('float32')\n"
        "b = _random_boxes(rng, 2, 5, 160)\n"
        "for aligned in (False, True):\n"
        "    out = keras.ops.convert_to_numpy(roi_align(f, b, 7, 1 / 16, 0, aligned))\n"
        "    ref = reference_roi_align(f, b, (7, 7), 1 / 16, 0, aligned)\n"
        "    print(float(np.abs(out - ref).max()))\n"
    )
    output = run_on_torch_backend(script)
    errors = [float(line) for line in output.split()]
    assert len(errors) == 2 and max(errors) <= 1e-5
