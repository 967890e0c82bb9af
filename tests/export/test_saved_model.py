"""Export round trips: write, reload in a fresh process, compare with Keras."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_slowfast.export import (
    export_saved_model,
    load_label_map,
    reference_outputs,
)
from keras_slowfast.export.saved_model import _cast_model
from keras_slowfast.models.preprocessor import VideoPreprocessor
from tests.tiny_models import tiny_classifier

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
LABELS = ["abseiling", "bowling", "cooking", "dancing", "eating"]
EXPORT_KWARGS = dict(short_side=40, crop_size=32, labels=LABELS, top_k=3)

# Runs in a fresh interpreter: loads the SavedModel, calls every signature and
# decodes the README's REST request bodies the way TF Serving does.
LOAD_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

directory, inputs_path, out_path = sys.argv[1:4]
loaded = tf.saved_model.load(directory)
inputs = np.load(inputs_path)
results = {"signatures": sorted(loaded.signatures)}

def call(name, **tensors):
    outputs = loaded.signatures[name](**tensors)
    for key, value in outputs.items():
        value = value.numpy()
        if value.dtype == object:
            value = value.astype(str)
        np.save(f"{out_path}.{name}.{key}.npy", value)

call("serving_default", video=tf.constant(inputs["raw"]))
call("normalized", video=tf.constant(inputs["normalized"]))

def decode_rest(body):
    # TF Serving's REST decoding: "instances" is row format (one dict per
    # example, stacked), "inputs" is columnar (one value per input name).
    request = json.loads(body)
    signature = loaded.signatures[request.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    if "instances" in request:
        rows = request["instances"]
        columns = {name: [row[name] for row in rows] for name in specs}
    else:
        columns = request["inputs"]
    tensors = {
        name: tf.constant(np.asarray(columns[name]), dtype=specs[name].dtype)
        for name in specs
    }
    return signature(**tensors)

for name in ("rest_instances", "rest_inputs"):
    with open(f"{inputs_path}.{name}.json") as file:
        outputs = decode_rest(file.read())
    np.save(f"{out_path}.{name}.probabilities.npy", outputs["probabilities"].numpy())
with open(out_path + ".json", "w") as file:
    json.dump(results, file)
"""


def _run(command, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, **kwargs
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = tiny_classifier()
    base = tmp_path_factory.mktemp("serving") / "slowfast"
    directory = export_saved_model(model, str(base), **EXPORT_KWARGS)
    return model, str(base), directory


def test_export_writes_a_versioned_directory(exported):
    _, base, directory = exported
    assert directory == os.path.join(base, "1")
    assert sorted(os.listdir(base)) == ["1"]
    assert os.path.isfile(os.path.join(directory, "saved_model.pb"))
    assert os.path.isdir(os.path.join(directory, "variables"))


def test_signatures_in_a_fresh_process_match_keras(exported, tmp_path):
    model, _, directory = exported
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (2, 8, 48, 60, 3), dtype=np.uint8)
    normalized = rng.normal(size=(3, 8, 32, 32, 3)).astype("float32")
    inputs_path = str(tmp_path / "inputs.npz")
    np.savez(inputs_path, raw=raw, normalized=normalized)
    # The REST bodies exactly as the README's "Export for TF Serving" shows them.
    rest_instances = {
        "signature_name": "serving_default",
        "instances": [{"video": clip.tolist()} for clip in raw],
    }
    rest_inputs = {
        "signature_name": "normalized",
        "inputs": {"video": normalized.tolist()},
    }
    for name, body in (
        ("rest_instances", rest_instances),
        ("rest_inputs", rest_inputs),
    ):
        with open(f"{inputs_path}.{name}.json", "w") as file:
            json.dump(body, file)
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    out_path = str(tmp_path / "out")
    result = _run([sys.executable, str(script), directory, inputs_path, out_path])
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out_path + ".json") as file:
        assert json.load(file)["signatures"] == ["normalized", "serving_default"]

    def served(name, key):
        return np.load(f"{out_path}.{name}.{key}.npy", allow_pickle=False)

    # serving_default: raw frames, preprocessing in the graph.
    expected_raw = reference_outputs(model, raw, **EXPORT_KWARGS)
    clips = VideoPreprocessor(short_side=40, crop_size=32)(raw)
    keras_probabilities = np.asarray(
        keras.ops.softmax(model(clips, training=False), axis=-1)
    )
    np.testing.assert_allclose(
        served("serving_default", "probabilities"), keras_probabilities, atol=1e-5
    )
    np.testing.assert_allclose(
        expected_raw["probabilities"], keras_probabilities, atol=1e-5
    )
    top3 = np.argsort(-keras_probabilities, axis=-1)[:, :3]
    np.testing.assert_array_equal(served("serving_default", "top_k_ids"), top3)
    np.testing.assert_allclose(
        served("serving_default", "top_k_scores"),
        np.take_along_axis(keras_probabilities, top3, axis=-1),
        atol=1e-5,
    )
    np.testing.assert_array_equal(
        served("serving_default", "top_k_names"), np.array(LABELS)[top3]
    )
    # normalized: the model on the given clips.
    expected = np.asarray(keras.ops.softmax(model(normalized, training=False), axis=-1))
    np.testing.assert_allclose(
        served("normalized", "probabilities"), expected, atol=1e-5
    )
    np.testing.assert_array_equal(
        served("normalized", "top_k_ids"), np.argsort(-expected, axis=-1)[:, :3]
    )
    # REST bodies decode into valid calls with the same answers.
    np.testing.assert_allclose(
        served("rest_instances", "probabilities"), keras_probabilities, atol=1e-5
    )
    np.testing.assert_allclose(
        served("rest_inputs", "probabilities"), expected, atol=1e-5
    )


def _signature_blocks(text):
    blocks = {}
    for part in text.split("signature_def[")[1:]:
        name = part.split("'")[1]
        blocks[name] = part
    return blocks


def _tensor_info(block, kind, name):
    match = re.search(
        rf"{kind}\['{name}'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))", block
    )
    assert match, f"{kind}[{name!r}] missing in:\n{block}"
    return match.group(1), match.group(2)


def test_saved_model_cli_lists_documented_signatures(exported):
    _, _, directory = exported
    result = _run([SAVED_MODEL_CLI, "show", "--all", "--dir", directory])
    assert result.returncode == 0, result.stderr[-3000:]
    blocks = _signature_blocks(result.stdout)
    assert {"serving_default", "normalized"} <= set(blocks)
    default, normalized = blocks["serving_default"], blocks["normalized"]
    assert _tensor_info(default, "inputs", "video") == (
        "DT_UINT8",
        "(-1, 8, -1, -1, 3)",
    )
    assert _tensor_info(normalized, "inputs", "video") == (
        "DT_FLOAT",
        "(-1, 8, 32, 32, 3)",
    )
    for block in (default, normalized):
        assert _tensor_info(block, "outputs", "probabilities") == (
            "DT_FLOAT",
            "(-1, 5)",
        )
        assert _tensor_info(block, "outputs", "top_k_ids") == ("DT_INT32", "(-1, 3)")
        assert _tensor_info(block, "outputs", "top_k_scores") == ("DT_FLOAT", "(-1, 3)")
        assert _tensor_info(block, "outputs", "top_k_names") == ("DT_STRING", "(-1, 3)")
        assert "Method name is: tensorflow/serving/predict" in block


def test_existing_version_needs_overwrite(exported):
    model, base, _ = exported
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(model, base, version=1, **EXPORT_KWARGS)


class BoxEcho(keras.layers.Layer):
    """A stand-in detector head: returns the boxes it gets (plus 0 x video)."""

    def call(self, inputs):
        video, boxes = inputs
        pooled = keras.ops.mean(video, axis=(1, 2, 3, 4))
        return boxes + 0.0 * pooled[:, None, None]


def _detector():
    video = keras.Input((8, None, None, 3), name="video")
    boxes = keras.Input((None, 4), name="boxes")
    return keras.Model([video, boxes], BoxEcho()([video, boxes]))


def test_detection_model_maps_boxes_through_resize_and_crop(tmp_path):
    model = _detector()
    base = tmp_path / "detector"
    os.makedirs(base / "1")  # an older version: the export picks the next one
    kwargs = dict(short_side=40, crop_size=32, output_activation="none")
    directory = export_saved_model(model, str(base), **kwargs)
    assert directory == str(base / "2")
    loaded = tf.saved_model.load(directory)
    specs = loaded.signatures["serving_default"].structured_input_signature[1]
    assert specs["video"].shape.as_list() == [None, 8, None, None, 3]
    assert specs["boxes"].shape.as_list() == [None, None, 4]
    video = np.zeros((1, 8, 48, 60, 3), np.uint8)
    boxes = np.array(
        [[[0.2, 0.25, 0.8, 0.75], [0.0, 0.0, 1.0, 1.0], [-1, -1, -1, -1]]], np.float32
    )
    out = loaded.signatures["serving_default"](
        video=tf.constant(video), boxes=tf.constant(boxes)
    )
    # 48x60 -> 40x50, crop offsets (top 4, left 9): pixels of the 32x32 crop;
    # the padding row stays -1.
    pixels = boxes * [50, 40, 50, 40] - [9, 4, 9, 4]
    pixels[0, 2] = -1
    np.testing.assert_allclose(out["probabilities"], pixels, atol=1e-5)
    assert out["top_k_ids"].shape == (1, 3, 4)
    clips = np.zeros((1, 8, 32, 32, 3), np.float32)
    out = loaded.signatures["normalized"](
        video=tf.constant(clips), boxes=tf.constant(boxes)
    )
    np.testing.assert_allclose(out["probabilities"], boxes, atol=1e-6)
    # Models that take boxes normalized to their input.
    directory = export_saved_model(model, str(base), box_format="normalized", **kwargs)
    out = tf.saved_model.load(directory).signatures["serving_default"](
        video=tf.constant(video), boxes=tf.constant(boxes)
    )
    expected = pixels / 32
    expected[0, 2] = -1
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)


def test_bfloat16_export_and_float16_cast(tmp_path):
    model = tiny_classifier()
    rng = np.random.default_rng(2)
    raw = rng.integers(0, 256, (1, 8, 40, 40, 3), dtype=np.uint8)
    expected = reference_outputs(model, raw, short_side=40, crop_size=32)
    directory = export_saved_model(
        model, str(tmp_path / "bf16"), short_side=40, crop_size=32, precision="bfloat16"
    )
    loaded = tf.saved_model.load(directory)
    out = loaded.signatures["serving_default"](video=tf.constant(raw))
    assert out["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(
        out["probabilities"], expected["probabilities"], atol=0.05
    )
    assert out["top_k_ids"][0, 0] == expected["top_k_ids"][0, 0]
    assert any(v.dtype == tf.bfloat16 for v in loaded.variables)
    # float16 graphs need a GPU to run (TF has no CPU float16 MaxPool3D); the
    # cast copy the float16 export traces is checked here.
    half = _cast_model(model, "float16")
    assert half.compute_dtype == "float16"
    assert {v.dtype for v in half.weights} == {"float16"}
    np.testing.assert_array_equal(
        half.get_layer("head").proj.kernel.numpy(),
        model.get_layer("head").proj.kernel.numpy().astype("float16"),
    )


def test_bad_arguments_raise_value_errors(tmp_path):
    model = _detector()
    with pytest.raises(ValueError, match="crop_size=64 must be <= short_side=32"):
        export_saved_model(model, str(tmp_path), short_side=32, crop_size=64)
    with pytest.raises(ValueError, match="precision='int8'"):
        export_saved_model(model, str(tmp_path), precision="int8")
    with pytest.raises(ValueError, match="label map has 2 names, the model 4"):
        export_saved_model(model, str(tmp_path), labels=["a", "b"])
    with pytest.raises(ValueError, match="output_activation='relu'"):
        export_saved_model(model, str(tmp_path), output_activation="relu")


def test_load_label_map_formats(tmp_path):
    text = tmp_path / "labels.txt"
    text.write_text("walking\n\nrunning\n")
    assert load_label_map(text) == ["walking", "running"]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(["a", "b"]))
    assert load_label_map(listed) == ["a", "b"]
    by_name = tmp_path / "kinetics.json"
    by_name.write_text(json.dumps({"b": 1, "a": 0}))
    assert load_label_map(by_name) == ["a", "b"]
    by_id = tmp_path / "ids.json"
    by_id.write_text(json.dumps({"1": "b", "0": "a"}))
    assert load_label_map(by_id) == ["a", "b"]
    gaps = tmp_path / "gaps.json"
    gaps.write_text(json.dumps({"a": 0, "b": 2}))
    with pytest.raises(ValueError, match="without gaps"):
        load_label_map(gaps)
    with pytest.raises(FileNotFoundError, match="file not found"):
        load_label_map(tmp_path / "missing.txt")


def test_exported_model_reads_names_and_settings_and_predict_runs_it(
    exported, tmp_path, capsys
):
    """``predict --runtime tf`` on a SavedModel: its names and image size come
    from ``assets.extra/keras_slowfast.json`` (a KeyError before)."""
    from keras_slowfast import cli
    from keras_slowfast.export import ExportedModel
    from keras_slowfast.inference.classify import predict_video
    from tests.inference.videos import write_video

    model, base, directory = exported
    runner = ExportedModel(base)
    assert runner.labels == LABELS
    assert runner.metadata["image_size"] == [32, 32]
    assert (runner.metadata["short_side"], runner.metadata["crop_size"]) == (40, 32)
    video = write_video(tmp_path / "clip.avi", 24)
    result = predict_video(runner, video, target_fps=10, verbose=0)
    keras_result = predict_video(
        model, video, target_fps=10, short_side=40, crop_size=32, labels=LABELS,
        verbose=0,
    )  # fmt: skip
    np.testing.assert_allclose(
        result["probabilities"], keras_result["probabilities"], atol=1e-5
    )
    assert result["top_k"][0]["name"] == keras_result["top_k"][0]["name"]
    arguments = ["predict", video, "--runtime", "tf", "--weights", base]
    assert cli.main(arguments + ["--target-fps", "10"]) == 0
    assert result["top_k"][0]["name"] in capsys.readouterr().out
