"""See what a SlowFast model looks at: Grad-CAM maps, heat-map videos, plots.

``grad_cam`` (``explain/grad_cam.py``) computes the maps; ``overlay``
(``explain/overlay.py``) turns them into pictures.
"""

from keras_slowfast.explain.grad_cam import (
    GradCAM,
    class_activation_map,
    default_layers,
    grad_cam,
)

__all__ = ["GradCAM", "class_activation_map", "default_layers", "grad_cam"]
