"""Access to the PyTorchVideo reference models inside the tests.

PyTorchVideo imports ``torchvision.ops`` at module level, and torchvision's
compiled ops do not load with a CPU-only torch. The models we compare against
never call RoIAlign, so a minimal stand-in module is enough to import them.
"""

import sys
import types

import torch


def import_pytorchvideo_models():
    """Returns ``pytorchvideo.models`` with a stand-in ``torchvision.ops``."""
    if "torchvision" not in sys.modules:
        torchvision = types.ModuleType("torchvision")
        ops = types.ModuleType("torchvision.ops")

        class RoIAlign(torch.nn.Module):
            """Placeholder; tests that need RoIAlign replace it."""

            def __init__(self, *args, **kwargs):
                super().__init__()

        ops.RoIAlign = RoIAlign
        torchvision.ops = ops
        sys.modules["torchvision"] = torchvision
        sys.modules["torchvision.ops"] = ops
    import pytorchvideo.models as models
    import pytorchvideo.models.hub  # noqa: F401

    return models


def torch_param_count(module):
    return sum(p.numel() for p in module.parameters())
