"""SlowFastDetector: graph, names, config, saving, loss, reference size."""

import keras
import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast.convert import extract_state_dict, load_state_dict
from keras_slowfast.layers import DetectionHead, box_mask
from keras_slowfast.models import (
    DetectionBinaryCrossentropy,
    SlowFastBackbone,
    SlowFastDetector,
)
from tests.reference import import_pytorchvideo_models
from tests.test_case import (
    assert_close,
    run_layer_test,
    run_model_saving_test,
    run_serialization_test,
    run_task_test,
)
from tests.tiny_models import TINY_DETECTION_BACKBONE, tiny_backbone, tiny_detector


def _detector(**task_arguments):
    return tiny_detector(5, **task_arguments)


def _inputs(batch=2):
    rng = np.random.default_rng(0)
    video = rng.normal(size=(batch, 8, 64, 64, 3)).astype("float32")
    boxes = np.array(
        [[[4, 6, 40, 60], [-1, -1, -1, -1], [30, 2, 63, 50]]] * batch, "float32"
    )
    return video, boxes


def test_detector_shared_task_checks():
    video, boxes = _inputs()
    labels = np.zeros((2, 3, 5), "float32")
    labels[:, 0, 1] = 1
    labels[:, 1] = -1

    def build(dtype=None):
        backbone = SlowFastBackbone(**TINY_DETECTION_BACKBONE, dtype=dtype)
        return SlowFastDetector(backbone, 5, max_boxes=3)

    model = run_task_test(
        build,
        [video, boxes],
        labels,
        DetectionBinaryCrossentropy(),
        (2, 3, 5),
        expected_weight_count=ks.count_params(build().backbone) + 2304 * 5 + 5,
    )
    assert model.spatial_scale == 1 / 16


def test_head_reads_the_stride_16_backbone_maps():
    detector = _detector()
    assert isinstance(detector.get_layer("head").proj, keras.layers.Dense)
    assert detector.get_layer("head").proj.kernel.shape == (2048 + 256, 5)
    assert detector.spatial_scale == 1 / 16
    video, boxes = _inputs()
    slow, fast = detector.backbone(video, training=False)
    assert slow.shape[2:4] == (4, 4)  # 64 / 16
    expected = detector.get_layer("head")([slow, fast, boxes], training=False)
    assert_close(detector([video, boxes], training=False), expected, atol=1e-5)


def test_scores_and_padding():
    model = _detector()
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
    model = _detector(aligned=True, max_boxes=3)
    config = model.get_config()
    assert config["backbone"]["config"]["spatial_strides"] == [1, 2, 2, 1]
    assert config["backbone"]["config"]["spatial_dilations"] == [1, 1, 1, 2]
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

    model = _detector()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    video, boxes = _inputs()
    labels = np.zeros((2, 3, 5), "float32")
    labels[:, 0, 1] = 1
    labels[:, 1] = -1
    history = model.fit([video, boxes], labels, epochs=1, batch_size=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_bad_inputs():
    model = _detector()
    video, boxes = _inputs()
    with pytest.raises(ValueError, match="boxes"):
        model([video, boxes[..., :3]])
    with pytest.raises(ValueError, match="frames"):
        model([video[:, :4], boxes])
    with pytest.raises(ValueError, match="video, boxes"):
        model(video)


def test_a_slow_only_detector_scores_boxes():
    """PyTorchVideo's slow_r50_detection layout: the Slow pathway alone."""
    model = SlowFastDetector(tiny_backbone(pathways="slow"), 5)
    video, boxes = _inputs()
    scores = np.asarray(model([video, boxes]))
    assert scores.shape == (*boxes.shape[:2], 5)
    assert model.head.proj.kernel.shape[0] == model.backbone.feature_channels["slow"]


@pytest.mark.large
@pytest.mark.torch
def test_matches_pytorchvideo_detection_model():
    """A converted random checkpoint gives PyTorchVideo's logits on clip + boxes.

    Compared before the sigmoid (``activation=None`` on both sides), as
    random weights saturate it.
    """
    import torch

    hub = import_pytorchvideo_models().hub
    torch.manual_seed(0)
    reference = hub.slowfast_r50_detection(
        pretrained=False,
        model_num_class=6,
        head_pool_kernel_sizes=((2, 1, 1), (8, 1, 1)),
        head_activation=None,  # PyTorchVideo argument
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

    model = ks.SlowFastR50Detection(num_classes=6, num_frames=8, activation=None)
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
@pytest.mark.torch
def test_slow_only_ava_preset_matches_pytorchvideo_slow_r50_detection():
    """The architecture of weighted preset ``slow_4x16_r50_ava22`` is
    PyTorchVideo's ``slow_r50_detection``: converted random weights give its
    logits on clip + boxes (before the sigmoid)."""
    import torch

    from keras_slowfast.models.zoo import zoo_entry
    from tests.convert.torch_reference import randomize

    hub = import_pytorchvideo_models().hub
    reference = hub.slow_r50_detection(
        pretrained=False, model_num_class=6, head_activation=None
    )
    randomize(reference, seed=5)
    entry = zoo_entry("slow_4x16_r50_ava22")
    model = SlowFastDetector.from_preset(
        entry["architecture"],
        num_classes=6,
        activation=None,
        **entry["backbone"],
        **entry["head"],
    )
    load_state_dict(model, {"model_state": reference.state_dict()}, progress=False)
    rng = np.random.default_rng(1)
    video = rng.normal(size=(1, 4, 96, 96, 3)).astype("float32")
    boxes = np.array([[[5.0, 10.0, 60.0, 90.0], [30.0, 0.0, 95.0, 70.0]]], "float32")
    ours = keras.ops.convert_to_numpy(model([video, boxes], training=False))
    rois = torch.tensor([[0, *boxes[0, 0]], [0, *boxes[0, 1]]], dtype=torch.float32)
    with torch.no_grad():
        expected = reference(
            torch.from_numpy(video).permute(0, 4, 1, 2, 3), rois
        ).numpy()
    scale = np.abs(expected).max()
    assert scale > 0.5
    np.testing.assert_allclose(ours[0], expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.large
def test_r50_detection_parameter_count_matches_pytorchvideo():
    hub = import_pytorchvideo_models().hub
    reference = hub.slowfast_r50_detection(pretrained=False)
    reference_count = sum(p.numel() for p in reference.parameters())
    assert reference_count == 33_828_888  # REFERENCE.md
    model = ks.SlowFastR50Detection()
    assert ks.count_params(model) == reference_count
    assert model.get_layer("head").proj.kernel.shape == (2304, 80)
    assert (model.num_frames, model.alpha, model.backbone.fusion_kernel_size) == (
        32,
        4,
        7,
    )
