"""Run an exported SlowFast file: ONNX Runtime, TFLite (LiteRT) or a SavedModel.

``ExportedModel`` loads an ``.onnx`` file, a ``.tflite`` file or a SavedModel
directory written by this package and calls it on numpy arrays. It reads
what a caller needs to feed it from the file: which signature was exported
(raw uint8 frames or normalized clips), the number of frames, the input
convention and the label names (ONNX ``metadata_props`` and the TFLite
model's metadata; a SavedModel is described by its ``serving_default``
signature and ``assets.extra/keras_slowfast.json``).
``keras_slowfast.inference.predict_video`` accepts it in place of a
Keras model, so a video is classified with the same windows and the same
preprocessing whichever runtime runs the network.
"""

import importlib
import json
import os
import warnings

import numpy as np

RUNTIMES = ("onnxruntime", "tflite", "tf")
# Key of the JSON description in ONNX metadata_props and TFLite metadata, and
# its file in a SavedModel's assets.extra/.
METADATA_NAME = "keras_slowfast"
SAVED_MODEL_METADATA = METADATA_NAME + ".json"
# Extra that installs each optional package (setup.py extras_require).
EXTRAS = {
    "onnx": "onnx",
    "tf2onnx": "onnx",
    "onnxruntime": "onnx",
    "ai_edge_litert": "tflite",
}


def import_optional(module, purpose):
    """Imports an optional dependency, or says which extra installs it.

    Args:
        module: str. Module name, e.g. ``"onnxruntime"``.
        purpose: str. What needs it, for the message ("ONNX export").

    Raises:
        ImportError: the module is not installed; the message names the
            ``pip install keras_slowfast[...]`` command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = EXTRAS.get(module.split(".")[0], module)
        raise ImportError(
            f"{purpose} needs the {module.split('.')[0]} package ({error}); "
            f"install it with: pip install keras_slowfast[{extra}]"
        ) from None


def runtime_for(path):
    """The runtime that runs ``path``: by extension, a directory is a SavedModel."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return "tf"
    if path.endswith(".onnx"):
        return "onnxruntime"
    if path.endswith(".tflite"):
        return "tflite"
    raise ValueError(
        f"{path}: expected an .onnx file, a .tflite file or a SavedModel directory"
    )


def read_tflite_metadata(content):
    """The JSON description embedded by ``export_tflite`` (None if absent).

    Args:
        content: bytes of a ``.tflite`` file.

    Returns:
        ``(metadata, uses_flex)``: the description dict or None, and whether
        the model contains Flex (TensorFlow) ops.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    uses_flex = any(
        (model.OperatorCodes(i).CustomCode() or b"").startswith(b"Flex")
        for i in range(model.OperatorCodesLength())
    )
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_NAME.encode():
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return json.loads(bytes(data).decode("utf-8")), uses_flex
    return None, uses_flex


def _savedmodel_directory(path):
    """A SavedModel directory, or the highest version under a TF Serving base."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [name for name in os.listdir(path) if name.isdigit()]
    for name in sorted(versions, key=int, reverse=True):
        candidate = os.path.join(path, name)
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            return candidate
    raise ValueError(f"{path}: no saved_model.pb here or in a version sub-directory")


class ExportedModel:
    """An exported classifier or detector, called on numpy arrays.

    Args:
        path: str. An ``.onnx`` or ``.tflite`` file from ``export_onnx`` /
            ``export_tflite``, or a SavedModel from ``export_saved_model``
            (the base directory, whose highest version is loaded, or one
            version); the ``serving_default`` signature is used.
        runtime: ``"onnxruntime"``, ``"tflite"``, ``"tf"`` or None (from the
            path: ``.onnx``, ``.tflite``, a directory).
        num_threads: int or None. CPU threads of ONNX Runtime or the TFLite
            interpreter; None leaves the runtime's default.

    Attributes:
        metadata: dict. The description written at export (see
            ``_Endpoints.metadata``): ``signature``, ``task``, ``num_frames``,
            ``num_classes``, ``labels``, ``input_convention``, ...
        takes_raw_frames: bool. The file takes uint8 frames of any size and
            preprocesses them itself (the ``serving_default`` signature);
            otherwise it takes normalized float32 clips.

    Call it with ``video`` (and ``boxes`` for a detector) to get a dict of
    numpy outputs: ``probabilities``, ``top_k_ids``, ``top_k_scores``.

    Examples:
    >>> model = ExportedModel("slowfast.onnx")
    >>> model(np.zeros((1, 32, 240, 320, 3), np.uint8))["probabilities"].shape
    (1, 400)
    """

    def __init__(self, path, runtime=None, *, num_threads=None):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"exported model {path}: not found")
        if runtime is None:
            runtime = runtime_for(path)
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime={runtime!r} must be one of {RUNTIMES}")
        expected = runtime_for(path)
        if runtime != expected:
            raise ValueError(f"{path} is run by runtime {expected!r}, not {runtime!r}")
        self.path = path
        self.runtime = runtime
        self.num_threads = None if num_threads is None else int(num_threads)
        load = {
            "onnxruntime": self._load_onnx,
            "tflite": self._load_tflite,
            "tf": self._load_saved_model,
        }[runtime]
        self.metadata = load()
        self.takes_raw_frames = self.metadata["signature"] == "serving_default"

    @property
    def task(self):
        return self.metadata["task"]

    @property
    def num_frames(self):
        return int(self.metadata["num_frames"])

    @property
    def num_classes(self):
        return int(self.metadata["num_classes"])

    @property
    def labels(self):
        return self.metadata.get("labels")

    @property
    def input_convention(self):
        """The ``{"mean", "std", "channel_order"}`` the file was exported with."""
        return self.metadata["input_convention"]

    def _load_onnx(self):
        ort = import_optional("onnxruntime", "running an ONNX file")
        options = ort.SessionOptions()
        if self.num_threads is not None:
            options.intra_op_num_threads = self.num_threads
        self._session = ort.InferenceSession(
            self.path, options, providers=["CPUExecutionProvider"]
        )
        self._output_names = [o.name for o in self._session.get_outputs()]
        props = self._session.get_modelmeta().custom_metadata_map
        if METADATA_NAME not in props:
            raise ValueError(
                f"{self.path}: no {METADATA_NAME!r} metadata; export it with "
                "keras_slowfast.export.export_onnx"
            )
        return json.loads(props[METADATA_NAME])

    def _load_tflite(self):
        with open(self.path, "rb") as file:
            content = file.read()
        metadata, uses_flex = read_tflite_metadata(content)
        if metadata is None:
            raise ValueError(
                f"{self.path}: no {METADATA_NAME!r} metadata; export it with "
                "keras_slowfast.export.export_tflite"
            )
        self._interpreter = _tflite_interpreter(
            content, uses_flex, self.num_threads, self.path
        )
        self._runner = self._interpreter.get_signature_runner()
        return metadata

    def _load_saved_model(self):
        import tensorflow as tf

        directory = _savedmodel_directory(self.path)
        loaded = tf.saved_model.load(directory)
        if "serving_default" not in loaded.signatures:
            raise ValueError(f"{directory}: no serving_default signature")
        self._loaded = loaded  # keeps the variables alive
        self._signature = loaded.signatures["serving_default"]
        described = os.path.join(directory, "assets.extra", SAVED_MODEL_METADATA)
        if os.path.isfile(described):
            with open(described, encoding="utf-8") as file:
                return json.load(file)
        # An export without the description: what the signatures show.
        specs = self._signature.structured_input_signature[1]
        outputs = self._signature.structured_outputs
        metadata = {
            "signature": "serving_default",
            "task": "detector" if "boxes" in specs else "classifier",
            "num_frames": int(specs["video"].shape[1]),
            "num_classes": int(outputs["probabilities"].shape[-1]),
            "labels": None,
            "image_size": [None, None],
        }
        if "normalized" in loaded.signatures:
            video = loaded.signatures["normalized"].structured_input_signature[1]
            metadata["image_size"] = list(video["video"].shape[2:4])
        return metadata

    def __call__(self, video, boxes=None):
        """Runs the network: ``video`` (and ``boxes``) -> dict of numpy outputs."""
        dtype = np.uint8 if self.takes_raw_frames else np.float32
        inputs = {"video": np.asarray(video, dtype)}
        if self.task == "detector":
            if boxes is None:
                raise ValueError(f"{self.path} is a detector: pass boxes too")
            inputs["boxes"] = np.asarray(boxes, np.float32)
        elif boxes is not None:
            raise ValueError(f"{self.path} is a classifier: it takes no boxes")
        if self.runtime == "onnxruntime":
            values = self._session.run(self._output_names, inputs)
            return dict(zip(self._output_names, values, strict=True))
        if self.runtime == "tflite":
            return {k: np.asarray(v) for k, v in self._runner(**inputs).items()}
        outputs = self._signature(**inputs)
        return {key: value.numpy() for key, value in outputs.items()}


def _tflite_interpreter(content, uses_flex, num_threads, path):
    """LiteRT's interpreter, else TensorFlow's deprecated ``tf.lite.Interpreter``.

    LiteRT (``ai-edge-litert``, the ``tflite`` extra) is the supported TFLite
    runtime since TensorFlow 2.20 deprecated ``tf.lite.Interpreter``. Neither
    Python package links the Flex delegate, so a file with Flex ops
    (``export_tflite(..., allow_flex=True)``) is refused with that reason.
    """
    if uses_flex:
        raise ValueError(
            f"{path} contains Flex (TensorFlow) ops, which neither LiteRT's nor "
            "TensorFlow's Python interpreter can run; run it where the Flex "
            "delegate is linked (Android: tensorflow-lite-select-tf-ops)"
        )
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = getattr(tf.lite, "Interpreter", None)
        if Interpreter is None:
            import_optional("ai_edge_litert", "running a TFLite file")
    with warnings.catch_warnings():
        # TensorFlow's deprecation notice, when LiteRT is not installed.
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter")
        return Interpreter(model_content=content, num_threads=num_threads)
