"""Access to the PyTorchVideo reference models inside the tests.

PyTorchVideo imports ``torchvision.ops`` at module level, and torchvision's
compiled ops do not load with a CPU-only torch. The one stand-in module below
is installed for the whole test session: its ``RoIAlign`` computes
torchvision's RoIAlign from the definition (loops over boxes, bins and
samples), independently of our Keras implementation, so the detection model
can be compared too.
"""

import math
import sys
import types

import torch


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
    """torchvision's roi_align from its definition: loops over boxes, bins, samples.

    features (K, C, H, W); rois (N, 5) as batch index, x1, y1, x2, y2.
    """
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
