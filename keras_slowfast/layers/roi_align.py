"""RoIAlign: bilinear region-of-interest pooling with torchvision's semantics.

The AVA detection head pools one feature vector per person box with RoIAlign
(He et al., Mask R-CNN). The reference implementations use
``torchvision.ops.roi_align``; this module reproduces its arithmetic exactly,
including its treatment of samples outside the feature map, so converted
checkpoints give the same scores.

The computation is written as two separable interpolation matrices (rows and
columns) per box and one batched matrix product with the feature map, so it
is vectorized, needs no gather, and runs on every Keras backend.
"""

from collections import Counter

import keras
from keras import ops

from keras_slowfast.layers.utils import register


def _pair(value, name):
    if isinstance(value, int):
        value = (value, value)
    try:
        pair = tuple(int(v) for v in value)
    except TypeError:
        raise ValueError(f"{name}={value!r} must be an int or 2 ints") from None
    if len(pair) != 2 or min(pair) < 1 or pair != tuple(value):
        raise ValueError(f"{name}={value!r} must be an int or 2 positive ints")
    return pair


def _axis_weights(start, size, bins, length, sampling_ratio):
    """Interpolation weights of one axis: ``(batch, boxes, bins, length)``.

    Entry ``[b, m, p, i]`` is the summed bilinear weight that the samples of
    output bin ``p`` of box ``m`` give to feature row (or column) ``i``.
    Also returns the number of samples per bin and axis, ``(batch, boxes)``.

    ``start`` and ``size`` are the box's start and extent in feature-map
    coordinates, ``(batch, boxes)``; ``length`` the map's height or width.
    """
    bin_size = size / bins
    static_length = isinstance(length, int)
    length_f = float(length) if static_length else ops.cast(length, "float32")
    if sampling_ratio > 0:
        grid = ops.full_like(size, float(sampling_ratio))
        num_samples = sampling_ratio
    else:
        # Adaptive: ceil(roi_size / bins) samples per bin (torchvision).
        grid = ops.ceil(bin_size)
        # Samples lie bin_size / grid > 0.5 apart when grid > 1, so at most
        # 2 * length + 3 of them fall in the region [-1, length] where they
        # can be non-zero; enumerate from the first such sample, plus one of
        # slack for rounding. This keeps the shapes static.
        num_samples = 2 * length + 4
    step = bin_size / ops.maximum(grid, 1.0)  # (b, m)
    bin_starts = (
        start[..., None] + ops.arange(bins, dtype="float32") * bin_size[..., None]
    )  # (b, m, bins)
    first = ops.zeros_like(bin_starts)
    if sampling_ratio <= 0:
        safe_step = ops.where(step > 0, step, 1.0)  # empty boxes have no samples
        first = ops.ceil((-1.0 - bin_starts) / safe_step[..., None] - 0.5) - 1.0
        first = ops.maximum(first, 0.0)
    k = first[..., None] + ops.arange(num_samples, dtype="float32")  # (b, m, p, k)
    # Same operation order as torchvision: start + p * bin + (k + .5) * bin / grid
    coords = (
        bin_starts[..., None]
        + (k + 0.5)
        * bin_size[..., None, None]
        / ops.maximum(grid, 1.0)[..., None, None]
    )
    valid = (k < grid[..., None, None]) & (coords >= -1.0) & (coords <= length_f)
    coords = ops.maximum(coords, 0.0)
    low = ops.floor(coords)
    at_edge = low >= length_f - 1.0
    low = ops.where(at_edge, length_f - 1.0, low)
    high = ops.where(at_edge, low, low + 1.0)
    frac = ops.where(at_edge, 0.0, coords - low)
    low_hot = ops.one_hot(ops.cast(low, "int32"), length, dtype="float32")
    high_hot = ops.one_hot(ops.cast(high, "int32"), length, dtype="float32")
    matrix = ops.sum(
        ops.where(valid, 1.0 - frac, 0.0)[..., None] * low_hot
        + ops.where(valid, frac, 0.0)[..., None] * high_hot,
        axis=-2,
    )
    return matrix, grid


def roi_align(
    features,
    boxes,
    output_size=(7, 7),
    spatial_scale=1.0,
    sampling_ratio=0,
    aligned=False,
):
    """RoIAlign of a padded batch of boxes, as ``torchvision.ops.roi_align``.

    Each box is divided into ``output_size`` bins; each bin averages
    ``sampling_ratio ** 2`` bilinear samples on a regular grid (or
    ``ceil(box_height / out_h) * ceil(box_width / out_w)`` samples when
    ``sampling_ratio=0``). As in torchvision, a sample above -1 and below the
    map's size is clamped into the map (coordinates in [-1, 0) read row 0,
    those past ``size - 1`` read the last row), a sample beyond that
    contributes zero, and the average is still over the whole grid. With
    ``aligned=False`` (torchvision's default, PyTorchVideo) box sizes are
    clamped to at least one feature pixel; with ``aligned=True`` (Detectron2,
    PySlowFast) box coordinates are shifted by half a pixel.

    Args:
        features: ``(batch, height, width, channels)`` feature maps.
        boxes: ``(batch, max_boxes, 4)`` boxes ``x1, y1, x2, y2`` in input
            (image) coordinates; ``spatial_scale`` maps them onto ``features``.
            Padding rows give arbitrary values (mask them afterwards).
        output_size: int or 2 ints. Output bins ``(out_h, out_w)``.
        spatial_scale: float. Feature-map size / image size (1/16 for a
            stride-16 map).
        sampling_ratio: int. Samples per bin and axis; 0 = adaptive.
        aligned: bool. Half-pixel offset (True) or torchvision legacy (False).

    Returns:
        ``(batch, max_boxes, out_h, out_w, channels)``, the features' dtype.
    """
    out_h, out_w = _pair(output_size, "output_size")
    sampling_ratio = int(sampling_ratio)
    if sampling_ratio < 0:
        raise ValueError(f"sampling_ratio={sampling_ratio} must be >= 0 (0 = adaptive)")
    features = ops.convert_to_tensor(features)
    boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
    if len(features.shape) != 4:
        raise ValueError(
            "features must be (batch, height, width, channels), "
            f"got shape {tuple(features.shape)}"
        )
    if len(boxes.shape) != 3 or boxes.shape[-1] != 4:
        raise ValueError(
            f"boxes must be (batch, max_boxes, 4) as x1, y1, x2, y2, "
            f"got shape {tuple(boxes.shape)}"
        )
    height, width = features.shape[1], features.shape[2]
    if height is None or width is None:
        dynamic = ops.shape(features)
        height = dynamic[1] if height is None else height
        width = dynamic[2] if width is None else width
    offset = 0.5 if aligned else 0.0
    scaled = boxes * float(spatial_scale) - offset
    x1, y1, x2, y2 = (scaled[..., i] for i in range(4))
    roi_h, roi_w = y2 - y1, x2 - x1
    if not aligned:
        roi_h, roi_w = ops.maximum(roi_h, 1.0), ops.maximum(roi_w, 1.0)
    rows, grid_h = _axis_weights(y1, roi_h, out_h, height, sampling_ratio)
    cols, grid_w = _axis_weights(x1, roi_w, out_w, width, sampling_ratio)
    count = ops.maximum(grid_h * grid_w, 1.0)  # (b, m)
    # (b, m, out_h, out_w, H, W): separable weights of every output cell.
    cell = rows[:, :, :, None, :, None] * cols[:, :, None, :, None, :]
    cell = cell / count[:, :, None, None, None, None]
    batch, num_boxes = ops.shape(boxes)[0], ops.shape(boxes)[1]
    cell = ops.reshape(cell, (batch, num_boxes * out_h * out_w, height * width))
    channels = features.shape[-1]
    flat = ops.reshape(features, (batch, height * width, channels))
    pooled = ops.matmul(ops.cast(cell, features.dtype), flat)
    return ops.reshape(pooled, (batch, num_boxes, out_h, out_w, channels))


@register
class ROIAlign(keras.layers.Layer):
    """RoIAlign layer: ``[features, boxes] -> (batch, max_boxes, h, w, C)``.

    A layer around :func:`roi_align` (torchvision's ``roi_align`` semantics
    for both ``aligned`` values); it has no weights.

    Args:
        output_size: int or 2 ints. Output bins ``(out_h, out_w)``.
        spatial_scale: float. Feature-map size / image size.
        sampling_ratio: int. Samples per bin and axis; 0 = adaptive
            (``ceil(box_size / output_size)``).
        aligned: bool. Shift boxes by half a pixel (Detectron2 / PySlowFast)
            or not (torchvision default / PyTorchVideo).
        **kwargs: Standard layer arguments.

    Examples:
    >>> layer = ROIAlign(7, spatial_scale=1 / 16)
    >>> layer([keras.ops.ones((2, 14, 14, 8)),
    ...        keras.ops.ones((2, 3, 4))]).shape
    (2, 3, 7, 7, 8)
    """

    def __init__(
        self,
        output_size=(7, 7),
        spatial_scale=1.0,
        sampling_ratio=0,
        aligned=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_size = _pair(output_size, "output_size")
        self.spatial_scale = float(spatial_scale)
        if self.spatial_scale <= 0:
            raise ValueError(f"spatial_scale={spatial_scale} must be positive")
        self.sampling_ratio = int(sampling_ratio)
        if self.sampling_ratio < 0:
            raise ValueError(
                f"sampling_ratio={sampling_ratio} must be >= 0 (0 = adaptive)"
            )
        self.aligned = bool(aligned)

    def call(self, inputs):
        features, boxes = inputs
        return roi_align(
            features,
            boxes,
            output_size=self.output_size,
            spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio,
            aligned=self.aligned,
        )

    def compute_output_shape(self, input_shape):
        features_shape, boxes_shape = input_shape
        return (
            features_shape[0],
            boxes_shape[1],
            *self.output_size,
            features_shape[-1],
        )

    def flop_counts(self, input_shape):
        """RoIAlign is interpolation, not counted (as fvcore's defaults)."""
        return Counter()

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_size": list(self.output_size),
                "spatial_scale": self.spatial_scale,
                "sampling_ratio": self.sampling_ratio,
                "aligned": self.aligned,
            }
        )
        return config
