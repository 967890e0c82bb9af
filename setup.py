"""Packaging for keras_slowfast.

Install with ``pip install -e .[test]``; the extras are:

* ``video``: PyAV, a second video decoder beside OpenCV.
* ``tune``: keras-tuner for hyperparameter search.
* ``torch``: PyTorch and PyTorchVideo, for the parity tests and for fully
  unpickling a checkpoint of your own (``--trust-checkpoint``); zoo checkpoints
  are read and converted without them.
* ``onnx``: tf2onnx, onnx and ONNX Runtime, for ``export --format onnx`` and
  running ``.onnx`` files.
* ``tflite``: LiteRT (``ai-edge-litert``), the TFLite interpreter that replaces
  TensorFlow's deprecated ``tf.lite.Interpreter``, for running ``.tflite`` files.
* ``test``: everything the test suite needs.
"""

from setuptools import find_packages, setup

VIDEO = ["av>=12"]
TUNE = ["keras-tuner>=1.4"]
TORCH = ["torch>=2.1", "pytorchvideo==0.1.5", "fvcore", "iopath", "portalocker"]
ONNX = ["tf2onnx>=1.16", "onnx>=1.16", "onnxruntime>=1.17"]
TFLITE = ["ai-edge-litert>=1.2"]

setup(
    name="keras_slowfast",
    version="0.1.0",
    description="SlowFast video networks for Keras 3 and TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_slowfast", "keras_slowfast.*"]),
    package_data={"keras_slowfast": ["label_maps/*.txt"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.6,<4",
        "numpy",
        "opencv-python-headless>=4.8",
        "keras-tuner>=1.4",
        "pyyaml>=5.1",
        "tensorboard>=2.16",
    ],
    extras_require={
        "video": VIDEO,
        "tune": TUNE,
        "torch": TORCH,
        "onnx": ONNX,
        "tflite": TFLITE,
        "test": ["pytest>=7", "ruff"] + VIDEO + TUNE + TORCH + ONNX + TFLITE,
    },
    entry_points={"console_scripts": ["keras-slowfast=keras_slowfast.cli:main"]},
)
