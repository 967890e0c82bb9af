"""SlowFastDetector: graph, names, config, saving, loss, reference size."""

import sys
import types

import keras
import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast.convert import extract_state_dict, load_state_dict
from keras_slowfast.layers import DetectionHead, box_mask
from keras_slowfast.models import (
    DetectionBinaryCrossentropy,
    SlowFastDetector,
    SlowFastNet,
)
from tests.test_case import (
    assert_close,
    run_layer_test,
    run_model_saving_test,
    run_serialization_test,
)

TINY = {"stage_depths": [1, 1, 1, 1], "num_frames": 8, "num_classes": 5}


def _inputs(batch=2):
    rng = np.random.default_rng(0)
    video = rng.normal(size=(batch, 8, 64, 64, 3)).astype("float32")
    boxes = np.array(
        [[[4, 6, 40, 60], [-1, -1, -1, -1], [30, 2, 63, 50]]] * batch, "float32"
    )
    return video, boxes


def test_same_backbone_layer_names_and_shapes_as_slowfastnet():
    detector = SlowFastDetector(**TINY)
    backbone = SlowFastNet(
        stage_depths=[1, 1, 1, 1],
        num_frames=8,
        spatial_strides=[1, 2, 2, 1],
        spatial_dilations=[1, 1, 1, 2],
        include_top=False,
        pooling=None,
    )
    backbone_names = [layer.name for layer in backbone.layers]
    detector_names = [layer.name for layer in detector.layers]
    assert [n for n in detector_names if n not in ("boxes", "head")] == backbone_names
    for name in backbone_names[1:]:
        ours = [tuple(w.shape) for w in detector.get_layer(name).weights]
        theirs = [tuple(w.shape) for w in backbone.get_layer(name).weights]
        assert ours == theirs, name
    assert isinstance(detector.get_layer("head").proj, keras.layers.Dense)
    assert detector.get_layer("head").proj.kernel.shape == (2048 + 256, 5)
    assert detector.spatial_scale == 1 / 16
    # Same backbone weights -> same maps, so the detector's head sees the
    # backbone's stride-16 features: check by rerunning the head by hand.
    for name in backbone_names[1:]:
        backbone.get_layer(name).set_weights(detector.get_layer(name).get_weights())
    video, boxes = _inputs()
    slow, fast = backbone(video, training=False)
    assert slow.shape[2:4] == (4, 4)  # 64 / 16
    expected = detector.get_layer("head")([slow, fast, boxes], training=False)
    assert_close(detector([video, boxes], training=False), expected, atol=1e-5)


def test_scores_and_padding():
    model = SlowFastDetector(**TINY)
    video, boxes = _inputs()
    scores = keras.ops.convert_to_numpy(model([video, boxes], training=False))
    assert scores.shape == (2, 3, 5)
    assert np.all(scores[:, 1] == 0.0)  # padding row
    assert np.all((scores[:, [0, 2]] > 0) & (scores[:, [0, 2]] < 1))
    # Different boxes get different scores; the same box in any slot the same.
    assert not np.allclose(scores[0, 0], scores[0, 2])
    swapped = keras.ops.convert_to_numpy(model([video, boxes[:, ::-1]], training=False))
    np.testing.assert_allclose(swapped[:, ::-1], scores, atol=1e-5)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(box_mask(boxes)), [[1, 0, 1], [1, 0, 1]]
    )


def test_config_and_saving():
    model = SlowFastDetector(**TINY, aligned=True, max_boxes=3)
    config = model.get_config()
    assert config["spatial_strides"] == [1, 2, 2, 1]
    assert config["spatial_dilations"] == [1, 1, 1, 2]
    assert config["aligned"] is True and config["max_boxes"] == 3
    run_serialization_test(model)
    restored = run_model_saving_test(model, list(_inputs()))
    assert restored.get_layer("head").roi_align.aligned is True


def test_detection_head_layer_contract():
    rng = np.random.default_rng(0)
    slow = rng.normal(size=(2, 2, 4, 4, 16)).astype("float32")
    fast = rng.normal(size=(2, 8, 4, 4, 2)).astype("float32")
    boxes = np.array([[[0, 0, 30, 40], [-1, -1, -1, -1]]] * 2, "float32")
    run_layer_test(
        DetectionHead,
        {"num_classes": 3, "spatial_scale": 1 / 16},
        [slow, fast, boxes],
        expected_output_shape=(2, 2, 3),
    )


def test_detection_head_matches_manual_computation():
    """mean over T -> concat -> RoIAlign -> max over 7x7 -> dense -> sigmoid."""
    rng = np.random.default_rng(1)
    slow = rng.normal(size=(1, 2, 4, 4, 3)).astype("float32")
    fast = rng.normal(size=(1, 8, 4, 4, 2)).astype("float32")
    boxes = np.array([[[3.0, 5.0, 50.0, 41.0]]], "float32")
    head = DetectionHead(4, spatial_scale=1 / 16, dropout_rate=0.0)
    scores = keras.ops.convert_to_numpy(head([slow, fast, boxes]))
    pooled = np.concatenate([slow.mean(1), fast.mean(1)], axis=-1)
    regions = keras.ops.convert_to_numpy(
        ks.layers.roi_align(pooled, boxes, 7, spatial_scale=1 / 16)
    )
    vector = regions.max(axis=(2, 3))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in head.proj.weights)
    expected = 1 / (1 + np.exp(-(vector @ kernel + bias)))
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_loss_ignores_padding_rows_and_training_step():
    loss = DetectionBinaryCrossentropy()
    y_true = np.array([[[1, 0], [-1, -1]]], "float32")
    y_pred = np.array([[[0.8, 0.3], [0.0, 0.0]]], "float32")
    expected = -(np.log(0.8) + np.log(0.7)) / 2
    np.testing.assert_allclose(float(loss(y_true, y_pred)), expected, rtol=1e-5)
    run_serialization_test(loss)

    model = SlowFastDetector(**TINY)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    video, boxes = _inputs()
    labels = np.zeros((2, 3, 5), "float32")
    labels[:, 0, 1] = 1
    labels[:, 1] = -1
    history = model.fit([video, boxes], labels, epochs=1, batch_size=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_bad_inputs():
    model = SlowFastDetector(**TINY)
    video, boxes = _inputs()
    with pytest.raises(ValueError, match="boxes"):
        model([video, boxes[..., :3]])
    with pytest.raises(ValueError, match="frames"):
        model([video[:, :4], boxes])
    with pytest.raises(ValueError, match="video, boxes"):
        model(video)
    with pytest.raises(ValueError, match="pathways"):
        SlowFastDetector(**TINY, pathways="slow")


def _torch_roi_align(features, rois, output_size, scale, sampling_ratio, aligned):
    """torchvision's roi_align from its definition: loops over boxes, bins, samples.

    features (K, C, H, W); rois (N, 5) as batch index, x1, y1, x2, y2.
    """
    import math

    out_h, out_w = output_size
    height, width = features.shape[-2:]
    offset = 0.5 if aligned else 0.0
    output = features.new_zeros((rois.shape[0], features.shape[1], out_h, out_w))

    def sample(feature, y, x):
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return 0.0
        y, x = max(y, 0.0), max(x, 0.0)
        y0, x0 = int(y), int(x)
        if y0 >= height - 1:
            y0 = y1 = height - 1
            y = float(y0)
        else:
            y1 = y0 + 1
        if x0 >= width - 1:
            x0 = x1 = width - 1
            x = float(x0)
        else:
            x1 = x0 + 1
        ly, lx = y - y0, x - x0
        return (
            (1 - ly) * (1 - lx) * feature[:, y0, x0]
            + (1 - ly) * lx * feature[:, y0, x1]
            + ly * (1 - lx) * feature[:, y1, x0]
            + ly * lx * feature[:, y1, x1]
        )

    for n, roi in enumerate(rois.tolist()):
        feature = features[int(roi[0])]
        x1, y1, x2, y2 = (v * scale - offset for v in roi[1:])
        roi_w, roi_h = x2 - x1, y2 - y1
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_w)
        count = max(grid_h * grid_w, 1)
        for ph in range(out_h):
            for pw in range(out_w):
                total = 0.0
                for iy in range(grid_h):
                    y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        total = total + sample(feature, y, x)
                output[n, :, ph, pw] = total / count
    return output


def _pytorchvideo():
    """``pytorchvideo.models.hub`` importable without torchvision.

    torchvision's compiled ops do not load with this CPU-only torch; the
    stand-in ``torchvision.ops.RoIAlign`` computes RoIAlign from its definition
    (``_torch_roi_align``), independently of our Keras implementation.
    """
    import torch

    if "torchvision" not in sys.modules:
        torchvision = types.ModuleType("torchvision")
        ops = types.ModuleType("torchvision.ops")

        class RoIAlign(torch.nn.Module):
            def __init__(
                self, output_size, spatial_scale, sampling_ratio, aligned=False
            ):
                super().__init__()
                self.output_size = tuple(output_size)
                self.spatial_scale = spatial_scale
                self.sampling_ratio = sampling_ratio
                self.aligned = aligned

            def forward(self, features, rois):
                return _torch_roi_align(
                    features,
                    rois,
                    self.output_size,
                    self.spatial_scale,
                    self.sampling_ratio,
                    self.aligned,
                )

        ops.RoIAlign = RoIAlign
        torchvision.ops = ops
        sys.modules["torchvision"] = torchvision
        sys.modules["torchvision.ops"] = ops
    import pytorchvideo.models.hub as hub

    return hub


@pytest.mark.large
@pytest.mark.torch
def test_matches_pytorchvideo_detection_model():
    """A converted random checkpoint gives PyTorchVideo's logits on clip + boxes.

    Compared before the sigmoid (``head_activation=None`` on both sides), as
    random weights saturate it.
    """
    import torch

    hub = _pytorchvideo()
    torch.manual_seed(0)
    reference = hub.slowfast_r50_detection(
        pretrained=False,
        model_num_class=6,
        head_pool_kernel_sizes=((2, 1, 1), (8, 1, 1)),
        head_activation=None,
    )
    # Non-trivial batch-norm statistics and affine terms.
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.1, 0.1)
    torch.nn.init.normal_(reference.detection_head.proj.weight, std=0.05)
    reference.eval()

    model = ks.SlowFastR50Detection(num_classes=6, num_frames=8, head_activation=None)
    # The checkpoint layout of PyTorchVideo's AVA model (``model.`` backbone,
    # ``detection_head.proj``), converted by keras_slowfast.convert.
    checkpoint = {"model_state": reference.state_dict()}
    assert any(k.startswith("detection_head.proj") for k in checkpoint["model_state"])
    load_state_dict(model, extract_state_dict(checkpoint), progress=False)

    rng = np.random.default_rng(0)
    video = rng.normal(size=(2, 8, 96, 96, 3)).astype("float32")
    boxes = np.array(
        [
            [[5.0, 10.0, 60.0, 90.0], [40.0, -8.0, 100.0, 50.0]],
            [[0.0, 0.0, 95.0, 95.0], [-1.0, -1.0, -1.0, -1.0]],
        ],
        "float32",
    )
    ours = keras.ops.convert_to_numpy(model([video, boxes], training=False))

    fast = torch.from_numpy(video).permute(0, 4, 1, 2, 3)
    slow = fast[:, :, ks.layers.slow_frame_indices(8, 4)]
    rois = torch.tensor(
        [[0, *boxes[0, 0]], [0, *boxes[0, 1]], [1, *boxes[1, 0]]], dtype=torch.float32
    )
    with torch.no_grad():
        expected = reference([slow, fast], rois).numpy()
    scale = np.abs(expected).max()
    assert np.std(expected) > 0.1 * scale  # logits differ between boxes / classes
    np.testing.assert_allclose(ours[0], expected[:2], rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(ours[1, 0], expected[2], rtol=1e-4, atol=1e-4 * scale)
    assert np.all(ours[1, 1] == 0.0)


@pytest.mark.large
def test_r50_detection_parameter_count_matches_pytorchvideo():
    hub = _pytorchvideo()
    reference = hub.slowfast_r50_detection(pretrained=False)
    reference_count = sum(p.numel() for p in reference.parameters())
    assert reference_count == 33_828_888  # REFERENCE.md
    model = ks.SlowFastR50Detection()
    assert ks.count_params(model) == reference_count
    assert model.get_layer("head").proj.kernel.shape == (2304, 80)
    assert (model.num_frames, model.alpha, model.fusion_kernel_size) == (32, 4, 7)
