"""Tests for distribution: strategies, sync BN, a real 2-worker run on localhost."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_slowfast.models.factories import classifier_from_arguments
from keras_slowfast.training import distribute

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_synchronize_batch_norm_sets_every_layer():
    model = classifier_from_arguments(
        stage_depths=[1, 1, 1, 1], alpha=4, beta_inv=8, num_frames=8, num_classes=3
    )
    count = distribute.synchronize_batch_norm(model)
    norms = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert count == len(norms) > 10
    assert all(layer.synchronized for layer in norms)
    distribute.synchronize_batch_norm(model, False)
    assert not any(layer.synchronized for layer in norms)


def test_make_strategy_choices(monkeypatch):
    assert distribute.make_strategy("mirrored").num_replicas_in_sync >= 1
    assert distribute.is_chief(distribute.make_strategy("default"))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    with pytest.raises(ValueError, match="strategy='tpu'"):
        distribute.make_strategy("tpu")


def test_two_worker_multi_worker_mirrored_training_agrees(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        env = dict(
            os.environ,
            PYTHONPATH=ROOT,
            CUDA_VISIBLE_DEVICES="-1",
            TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        )
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    os.path.join(HERE, "multi_worker_job.py"),
                    str(tmp_path),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=400)[0] for p in processes]
    for p, out in zip(processes, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
    results = [
        json.loads((tmp_path / f"result_{i}.json").read_text()) for i in range(2)
    ]
    assert [r["chief"] for r in results] == [True, False]
    assert all(r["replicas"] == 2 and r["iterations"] == 4 for r in results)
    first, second = (np.load(tmp_path / f"weights_{i}.npz") for i in range(2))
    assert len(first.files) == len(second.files) > 50
    for key in first.files:
        np.testing.assert_allclose(first[key], second[key], rtol=1e-5, atol=1e-6)
    assert (tmp_path / "workers" / "worker_1").is_dir()
