"""Weighted presets: download once through a mirror, convert once, load from cache.

A loopback server (``tests/zoo_server.py``) stands for the zoo; files are
written by the tests in the zoos' formats (a Caffe2 pickle as Python 2 wrote
it, and for the full-size test PyTorchVideo's own zip checkpoint).
``KERAS_SLOWFAST_MIRROR`` points every zoo URL at it and ``KERAS_HOME`` at
the test's folder, so nothing outside the test is read or written.
"""

import io
import os

import numpy as np
import pytest

import keras_slowfast as ks
from keras_slowfast import cli
from keras_slowfast.labels import builtin_label_map
from keras_slowfast.models import pretrained, zoo
from keras_slowfast.models.pretrained import WeightsDownloadError, mirrored_url
from tests.convert.files import caffe2_blob_name, py2_blobs_pickle
from tests.convert.tiny import TINY, random_clip, tiny_model, torch_named_state_dict
from tests.zoo_server import closed_port, zoo_server

NAME = "tiny_slowfast_kinetics400"
ZOO_PATH = "/pyslowfast/model_zoo/kinetics400/TINY_SLOWFAST.pkl"
TINY_ARCHITECTURE = {k: v for k, v in TINY.items() if k not in ("num_classes",)}


def _tiny_entry(**changes):
    entry = zoo._entry(
        "slowfast_8x8_r50",
        f"https://dl.fbaipublicfiles.com{ZOO_PATH}",
        source="pyslowfast",
        dataset="Kinetics-400",
        label_map="kinetics400",
        num_classes=400,
        num_frames=TINY["num_frames"],
        sampling_rate=4,
        accuracy="-",
        view={"short_side": 40, "crop_size": 32},
        backbone=TINY_ARCHITECTURE,
        reference="test",
    )
    entry["backbone"].pop("image_size")
    entry.update(changes)
    return entry


def _caffe2_file(model):
    blobs = {}
    for key, value in torch_named_state_dict(model, "pyslowfast").items():
        name = caffe2_blob_name(key, TINY["stage_depths"])
        if name is not None:
            blobs[name] = value.astype("float32")
    blobs["lr"] = np.array([0.1], "float32")
    return py2_blobs_pickle(blobs)


@pytest.fixture(scope="module")
def reference():
    """The published model: random weights, 400 Kinetics classes."""
    return tiny_model(num_classes=400)


@pytest.fixture
def served(reference, tmp_path, monkeypatch):
    """The tiny preset in the zoo, served by a loopback mirror."""
    monkeypatch.setitem(zoo.ZOO, NAME, _tiny_entry())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with zoo_server() as server:
        server.files[ZOO_PATH] = _caffe2_file(reference)
        monkeypatch.setenv("KERAS_SLOWFAST_MIRROR", server.url)
        yield server


def _cache_files(tmp_path):
    root = tmp_path / "keras_home"
    return (
        sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        if root.exists()
        else []
    )


def _logits(model, clip):
    return np.asarray(model(clip, training=False))


def test_one_call_downloads_converts_and_then_reads_the_cache(
    served, reference, tmp_path, monkeypatch
):
    clip = random_clip()
    model = ks.SlowFastVideoClassifier.from_preset(NAME)
    np.testing.assert_allclose(
        _logits(model, clip), _logits(reference, clip), atol=1e-5
    )
    assert model.class_names == builtin_label_map("kinetics400")
    assert model.class_names[0] == "abseiling" and len(model.class_names) == 400
    settings = model.preprocessor
    assert (settings.sampling_rate, settings.short_side, settings.crop_size) == (
        4,
        40,
        32,
    )
    assert served.requests == [ZOO_PATH]
    files = _cache_files(tmp_path)
    assert f"keras_slowfast/models/{NAME}.keras" in files
    assert any(f.endswith("-TINY_SLOWFAST.pkl") for f in files)
    assert not any("/." in f for f in files)  # no partial download or save

    def no_conversion(*args, **kwargs):
        raise AssertionError("the second call converted again")

    monkeypatch.setattr(pretrained, "convert_zoo_checkpoint", no_conversion)
    for again in (ks.load_model(NAME), ks.SlowFastVideoClassifier.from_preset(NAME)):
        np.testing.assert_allclose(
            _logits(again, clip), _logits(reference, clip), atol=1e-5
        )
        assert again.class_names == model.class_names
    assert served.requests == [ZOO_PATH]  # no second download


def test_fine_tuning_keeps_the_pretrained_backbone_under_a_new_head(served, reference):
    model = ks.SlowFastVideoClassifier.from_preset(NAME, num_classes=3)
    assert model.num_classes == 3 and model.class_names is None
    assert model.head.proj.kernel.shape[-1] == 3
    expected = {v.path: v.numpy() for v in reference.backbone.weights}
    actual = {v.path: v.numpy() for v in model.backbone.weights}
    assert actual.keys() == expected.keys()
    for path, value in expected.items():
        np.testing.assert_array_equal(actual[path], value, err_msg=path)
    assert model.preprocessor.sampling_rate == 4  # the input settings stay
    backbone = ks.SlowFastBackbone.from_preset(NAME)
    np.testing.assert_array_equal(
        backbone.get_layer("slow_stem").weights[0].numpy(),
        reference.backbone.get_layer("slow_stem").weights[0].numpy(),
    )


def test_train_runs_from_a_weighted_preset(served, tmp_path):
    from keras_slowfast.training import trainer

    config = {
        "model": {"preset": NAME, "num_classes": 8},  # the synthetic task's 8
        "data": {"type": "synthetic", "num_clips": 4, "num_frames": 8,
                 "image_size": 32},
        "training": {"epochs": 1, "batch_size": 2},
        "output_dir": str(tmp_path / "run"),
    }  # fmt: skip
    model, history, _ = trainer.train_from_config(config, verbose=0)
    assert model.num_classes == 8 and np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("failure", ["truncated", "refused", "hash"])
def test_failed_downloads_give_one_line_and_leave_the_cache_clean(
    failure, served, tmp_path, monkeypatch
):
    if failure == "truncated":
        served.truncate[ZOO_PATH] = 1000
    elif failure == "refused":
        monkeypatch.setenv("KERAS_SLOWFAST_MIRROR", f"http://127.0.0.1:{closed_port()}")
    else:
        monkeypatch.setitem(zoo.ZOO, NAME, _tiny_entry(sha256="0" * 64))
    with pytest.raises(WeightsDownloadError) as info:
        ks.load_model(NAME)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "TINY_SLOWFAST.pkl" in message and "127.0.0.1" in message
    assert f"--weights FILE --preset {NAME}" in message
    if failure == "hash":
        assert "sha256" in message
    assert _cache_files(tmp_path) == []
    checkpoints = tmp_path / "keras_home" / "keras_slowfast" / "checkpoints"
    assert not checkpoints.exists() or list(checkpoints.iterdir()) == []


def test_a_local_copy_of_the_zoo_file_needs_no_download(served, reference, tmp_path):
    local = tmp_path / "TINY_SLOWFAST.pkl"
    local.write_bytes(served.files[ZOO_PATH])
    served.files.clear()  # the zoo is gone
    model = ks.load_model(str(local), preset=NAME)
    clip = random_clip()
    np.testing.assert_allclose(
        _logits(model, clip), _logits(reference, clip), atol=1e-5
    )
    assert model.class_names[1] == "air drumming"
    assert served.requests == []


def test_checkpoint_urls_for_load_model_convert_and_the_cli(
    served, reference, tmp_path
):
    served.files["/mine/tiny.pkl"] = served.files[ZOO_PATH]
    url = f"{served.url}/mine/tiny.pkl"
    clip = random_clip()
    model = ks.load_model(url, num_frames=8)
    np.testing.assert_allclose(
        _logits(model, clip), _logits(reference, clip), atol=1e-5
    )
    converted = ks.convert_checkpoint(url, num_frames=8, progress=False)
    np.testing.assert_allclose(
        _logits(converted, clip), _logits(model, clip), atol=1e-6
    )
    assert served.requests == ["/mine/tiny.pkl"]  # downloaded once, then cached
    output = tmp_path / "tiny.keras"
    assert cli.main(["convert", url, str(output), "--num-frames", "8"]) == 0
    np.testing.assert_allclose(
        _logits(ks.load_model(str(output)), clip), _logits(model, clip), atol=1e-6
    )


def test_predict_names_the_classes_of_a_weighted_preset(served, tmp_path, capsys):
    from tests.inference.videos import write_video

    video = write_video(tmp_path / "clip.avi", 40, height=48, width=64)
    assert cli.main(["predict", video, "--weights", NAME, "--target-fps", "10"]) == 0
    table = capsys.readouterr().out
    names = builtin_label_map("kinetics400")
    assert "whole video" in table and any(f"{name} 0." in table for name in names)


def test_mirror_urls_keep_the_path():
    url = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/X.pyth"
    os.environ.pop("KERAS_SLOWFAST_MIRROR", None)
    assert mirrored_url(url) == url
    try:
        os.environ["KERAS_SLOWFAST_MIRROR"] = "http://mirror.local:8080/zoo/"
        assert mirrored_url(url) == (
            "http://mirror.local:8080/zoo/pytorchvideo/model_zoo/kinetics/X.pyth"
        )
        os.environ["KERAS_SLOWFAST_MIRROR"] = "mirror.local"
        with pytest.raises(ValueError, match="KERAS_SLOWFAST_MIRROR"):
            mirrored_url(url)
    finally:
        del os.environ["KERAS_SLOWFAST_MIRROR"]


def test_weighted_preset_misuse_is_named():
    with pytest.raises(ValueError, match="detector preset"):
        ks.SlowFastVideoClassifier.from_preset("slowfast_8x8_r50_ava22")
    with pytest.raises(ValueError, match="classifier preset"):
        ks.SlowFastDetector.from_preset("slowfast_8x8_r50_kinetics400")
    with pytest.raises(ValueError, match="takes only num_classes"):
        ks.SlowFastVideoClassifier.from_preset(
            "slowfast_8x8_r50_kinetics400", dropout_rate=0.1
        )
    with pytest.raises(ValueError, match="takes only num_classes"):
        ks.load_model("slowfast_8x8_r50_kinetics400", alpha=8)
    with pytest.raises(ValueError, match="not a weighted preset"):
        zoo.zoo_entry("slowfast_8x8_r50")


def test_info_lists_every_weighted_preset_with_its_accuracy(capsys):
    assert cli.main(["info", "--weights"]) == 0
    out = capsys.readouterr().out
    for name, entry in zoo.ZOO.items():
        line = next(row for row in out.splitlines() if row.startswith(name + " "))
        assert entry["accuracy"] in line and "MiB" in line


def test_zoo_entries_record_their_sources():
    for name, entry in zoo.ZOO.items():
        assert entry["url"].startswith("https://dl.fbaipublicfiles.com/"), name
        assert entry["source"] in ("pytorchvideo", "pyslowfast"), name
        names = builtin_label_map(entry["label_map"])
        assert len(names) == entry["num_classes"], name
        assert entry["task"] == ("detector" if "_ava2" in name else "classifier")
    assert zoo.ZOO["slowfast_8x8_r50_kinetics400"]["url"] == (
        "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/"
        "SLOWFAST_8x8_R50.pyth"
    )


@pytest.mark.large
def test_every_weighted_preset_builds_with_its_parameter_count():
    """Counts equal the zoo's published millions where the zoo gives them.

    PyTorchVideo's table gives 31.78 M for SLOW_4x16_R50_DETECTION, whose hub
    model (``slow_r50_detection``) has 31,798,416 parameters, as ours (the
    parity test in test_detector.py loads every weight of it): hence 0.02 M.
    """
    built = {}
    for name, entry in sorted(zoo.ZOO.items()):
        key = repr({k: entry[k] for k in ("architecture", "task", "backbone", "head",
                                          "num_classes")})  # fmt: skip
        if key not in built:
            model = pretrained.build_zoo_model(name)
            built[key] = ks.count_params(model)
            assert model.class_names == builtin_label_map(entry["label_map"])
            assert model.num_frames == entry["num_frames"]
        assert built[key] == entry["parameters"], name
        if entry["params_millions"] is not None:
            assert abs(built[key] / 1e6 - entry["params_millions"]) < 0.02, name


@pytest.mark.large
@pytest.mark.torch
def test_the_pytorchvideo_8x8_preset_end_to_end(tmp_path, monkeypatch):
    """``slowfast_8x8_r50_kinetics400`` from a mirror serving a randomized
    PyTorchVideo checkpoint saved by torch: PyTorchVideo's logits, Kinetics
    names, and the second call reads the cache."""
    import io

    import torch

    from tests.convert.torch_reference import (
        pytorchvideo_models,
        randomize,
        torch_logits,
    )

    torch_model = randomize(
        pytorchvideo_models().hub.slowfast.slowfast_r50(
            pretrained=False, head_pool_kernel_sizes=((8, 2, 2), (32, 2, 2))
        ),
        seed=6,
    )
    buffer = io.BytesIO()
    torch.save({"model_state": torch_model.state_dict(), "epoch": 196}, buffer)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    path = "/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth"
    with zoo_server() as server:
        server.files[path] = buffer.getvalue()
        monkeypatch.setenv("KERAS_SLOWFAST_MIRROR", server.url)
        model = ks.load_model("slowfast_8x8_r50_kinetics400")
        again = ks.load_model("slowfast_8x8_r50_kinetics400")
        assert server.requests == [path]
    clip = np.random.default_rng(0).normal(size=(1, 32, 64, 64, 3)).astype("float32")
    expected = torch_logits(torch_model, clip, alpha=4)
    for loaded in (model, again):
        actual = _logits(loaded, clip)
        scale = np.abs(expected).max()
        assert scale > 0.5 and np.abs(actual - expected).max() <= 1e-5 * scale
    assert model.class_names == builtin_label_map("kinetics400")
    assert (model.preprocessor.sampling_rate, model.preprocessor.crop_size) == (2, 256)


def test_a_detection_preset_loads_with_ava_names_and_detect_uses_them(
    tmp_path, monkeypatch, capsys
):
    """An AVA preset (a tiny one, its file in PyTorchVideo's zip layout written
    by torch): ``SlowFastDetector.from_preset`` gives its scores and the 80
    AVA names, and ``detect --weights NAME`` runs with them."""
    import torch

    from tests.inference.people import write_people_video
    from tests.tiny_models import TINY_DETECTION_BACKBONE, tiny_detector

    reference = tiny_detector(num_classes=80)
    rng = np.random.default_rng(2)
    for variable in reference.weights:
        if variable.path.endswith("moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype("float32"))
        elif len(variable.shape) > 1:
            variable.assign(rng.normal(0, 0.1, variable.shape).astype("float32"))
    state = {
        key: torch.from_numpy(value)
        for key, value in torch_named_state_dict(reference, "pytorchvideo").items()
    }
    buffer = io.BytesIO()
    torch.save({"model_state": state}, buffer)
    path = "/pytorchvideo/model_zoo/ava/TINY_DETECTION.pyth"
    backbone = dict(TINY_DETECTION_BACKBONE)
    backbone["fusion_kernel_size"] = reference.backbone.fusion_kernel_size
    entry = zoo._entry(
        "slowfast_8x8_r50",
        f"https://dl.fbaipublicfiles.com{path}",
        task="detector",
        source="pytorchvideo",
        dataset="AVA v2.2",
        label_map="ava",
        num_classes=80,
        num_frames=backbone.pop("num_frames"),
        sampling_rate=2,
        accuracy="-",
        view=zoo.AVA_VIEW,
        backbone=backbone,
        reference="test",
    )
    monkeypatch.setitem(zoo.ZOO, "tiny_slowfast_ava22", entry)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with zoo_server() as server:
        server.files[path] = buffer.getvalue()
        monkeypatch.setenv("KERAS_SLOWFAST_MIRROR", server.url)
        model = ks.SlowFastDetector.from_preset("tiny_slowfast_ava22")
        video = str(write_people_video(tmp_path / "people.mp4"))
        boxes = tmp_path / "boxes.csv"
        boxes.write_text("second,x1,y1,x2,y2\n0,4,4,40,60\n1,4,4,40,60\n")
        out = tmp_path / "annotated.mp4"
        arguments = ["detect", video, "--weights", "tiny_slowfast_ava22"]
        arguments += ["--boxes", str(boxes), "--out", str(out)]
        assert cli.main(arguments) == 0
        assert server.requests == [path]
    assert model.class_names == builtin_label_map("ava")
    assert model.class_names[79] == "watch (a person)"
    clip = rng.normal(size=(1, 8, 64, 64, 3)).astype("float32")
    box = np.array([[[4.0, 8.0, 50.0, 60.0]]], "float32")
    np.testing.assert_allclose(
        np.asarray(model([clip, box], training=False)),
        np.asarray(reference([clip, box], training=False)),
        atol=1e-5,
    )
    assert out.exists() and "person box" in capsys.readouterr().out


def test_exports_name_the_classes_of_a_weighted_preset(served):
    from keras_slowfast.export.saved_model import build_endpoints

    model = ks.load_model(NAME)
    endpoints = build_endpoints(model)
    assert endpoints.labels == builtin_label_map("kinetics400")
    assert endpoints.preprocessor.crop_size == 32  # the preset's, not 224
    assert endpoints.preprocessor.short_side == 40
