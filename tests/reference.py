"""Access to the PyTorchVideo reference models inside the tests.

PyTorchVideo imports ``torchvision.ops`` at module level, and torchvision's
compiled ops do not load with a CPU-only torch. The one stand-in module below
is installed for the whole test session: its ``RoIAlign`` computes
torchvision's RoIAlign with the float64 reference of
``tests/roi_align_reference.py``, independently of our Keras implementation,
so the detection model can be compared too.
"""

import sys
import types

import numpy as np
import torch

from tests.roi_align_reference import reference_roi_align


def import_pytorchvideo_models():
    """Returns ``pytorchvideo.models`` with a stand-in ``torchvision.ops``."""
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
                return torch_roi_align(
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
    import pytorchvideo.models as models
    import pytorchvideo.models.hub  # noqa: F401

    return models


def torch_param_count(module):
    return sum(p.numel() for p in module.parameters())


def torch_roi_align(features, rois, output_size, scale, sampling_ratio, aligned):
    """torchvision's ``roi_align`` call, computed by the float64 NumPy reference.

    features (K, C, H, W); rois (N, 5) as batch index, x1, y1, x2, y2.
    Returns (N, C, out_h, out_w) in the dtype of ``features``.
    """
    maps = features.detach().numpy().transpose(0, 2, 3, 1)
    pooled = [
        reference_roi_align(
            maps[int(roi[0]) : int(roi[0]) + 1],
            np.asarray(roi[1:])[None, None],
            output_size,
            scale,
            sampling_ratio,
            aligned,
        )[0, 0].transpose(2, 0, 1)
        for roi in rois.tolist()
    ]
    stacked = (
        np.stack(pooled) if pooled else np.zeros((0, maps.shape[-1], *output_size))
    )
    return torch.from_numpy(stacked).to(features.dtype)
