"""with_dtype: precision by argument, weights carried over, global policy untouched."""

import keras
import numpy as np
import pytest

from keras_slowfast.models.precision import computes_in_float16, with_dtype
from tests.test_case import assert_policy_everywhere
from tests.tiny_models import tiny_backbone, tiny_detector, tiny_task


def _clip():
    return np.random.default_rng(0).normal(size=(1, 8, 32, 32, 3)).astype("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_task_copy_computes_in_the_policy_with_the_same_weights(policy):
    task = tiny_task(3)
    mixed = with_dtype(task, policy)
    assert_policy_everywhere(mixed, policy)
    for a, b in zip(task.weights, mixed.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert computes_in_float16(mixed) == (policy == "mixed_float16")
    assert not computes_in_float16(task)
    ours = np.asarray(mixed(_clip(), training=False), "float32")
    np.testing.assert_allclose(ours, np.asarray(task(_clip(), training=False)),
                               atol=0.05)  # fmt: skip


def test_head_dtype_and_backbones_and_detectors():
    task = with_dtype(tiny_task(3), "mixed_bfloat16", head_dtype="float32")
    assert task.get_layer("head").compute_dtype == "float32"
    assert task.backbone.get_layer("slow_stem").compute_dtype == "bfloat16"
    backbone = with_dtype(tiny_backbone(), "bfloat16")
    assert {v.dtype for v in backbone.weights} == {"bfloat16"}
    detector = with_dtype(tiny_detector(3), "mixed_bfloat16")
    assert_policy_everywhere(detector, "mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"
