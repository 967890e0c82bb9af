"""torchvision's RoIAlign written from its definition, in float64 NumPy.

Independent of our ``keras.ops`` implementation: plain loops over boxes, output
bins and sample points, with torchvision's bilinear rule for points near or
outside the border. The RoIAlign tests compare against it, and the stand-in
``torchvision.ops.RoIAlign`` of ``tests/reference.py`` (used by the PyTorchVideo
detection model) computes with it.
"""

import math

import numpy as np


def _bilinear(feature, y, x):
    """torchvision's ``bilinear_interpolate`` on one (H, W, C) map: a C-vector."""
    height, width = feature.shape[:2]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * feature[y_low, x_low]
        + hy * lx * feature[y_low, x_high]
        + ly * hx * feature[y_high, x_low]
        + ly * lx * feature[y_high, x_high]
    )


def reference_roi_align(features, boxes, output_size, scale, sampling_ratio, aligned):
    """RoIAlign of ``boxes`` (B, M, 4; x1, y1, x2, y2) on ``features`` (B, H, W, C).

    Returns float64 ``(B, M, out_h, out_w, C)``.
    """
    features = np.asarray(features, np.float64)
    boxes = np.asarray(boxes, np.float64)
    batch, num_boxes = boxes.shape[:2]
    out_h, out_w = output_size
    out = np.zeros((batch, num_boxes, out_h, out_w, features.shape[-1]))
    offset = 0.5 if aligned else 0.0
    for b in range(batch):
        for m in range(num_boxes):
            x1, y1, x2, y2 = boxes[b, m] * scale - offset
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
                            total = total + _bilinear(features[b], y, x)
                    out[b, m, ph, pw] = total / count
    return out
