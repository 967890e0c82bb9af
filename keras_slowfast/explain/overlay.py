"""Pictures of Grad-CAM maps: heat maps blended over frames, side-by-side panels.

Everything here is NumPy + OpenCV on uint8 RGB frames, so the same pictures
go into a video file, PNG frames and TensorBoard image summaries.
"""

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
CAPTION_HEIGHT = 22
LABEL_HEIGHT = 18


def colorize(heat):
    """Maps values in [0, 1] to the JET colour scale (blue = 0, red = 1).

    Args:
        heat: float array ``(..., height, width)`` in [0, 1].

    Returns:
        uint8 RGB array ``(..., height, width, 3)``.
    """
    heat = np.asarray(heat, np.float32)
    levels = np.clip(np.rint(heat * 255.0), 0, 255).astype(np.uint8)
    flat = levels.reshape(-1, heat.shape[-1])
    coloured = cv2.applyColorMap(flat, cv2.COLORMAP_JET)[..., ::-1]
    return coloured.reshape(*heat.shape, 3)


def blend(frames, heat, opacity=0.5):
    """Lays a heat map over frames: ``(1 - opacity) * frame + opacity * colour``.

    Args:
        frames: uint8 RGB ``(..., height, width, 3)``.
        heat: float ``(..., height, width)`` in [0, 1], same leading shape.
        opacity: float in [0, 1]. Weight of the heat-map colours.

    Returns:
        uint8 RGB array shaped like ``frames``.
    """
    frames = np.asarray(frames)
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity={opacity} must be in [0, 1]")
    if frames.shape[:-1] != np.shape(heat):
        raise ValueError(
            f"frames {frames.shape} and heat map {np.shape(heat)} differ in size"
        )
    mixed = (1.0 - opacity) * frames.astype(np.float32) + opacity * colorize(
        heat
    ).astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _text(image, text, origin, scale=0.45, colour=(255, 255, 255)):
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def panels(frames, maps, caption="", opacity=0.5, scale=1):
    """Side-by-side panels, one per pathway map, with a caption band on top.

    Args:
        frames: uint8 RGB ``(frames, height, width, 3)``: what the model saw.
        maps: dict name -> float ``(frames, height, width)`` in [0, 1], shown
            left to right in the dict's order, each panel labelled with its
            name (e.g. ``{"slow": ..., "fast": ...}``).
        caption: str. Written in the band above the panels (the predicted
            class, the time).
        opacity: float. Heat-map weight in each panel.
        scale: int. Each panel is enlarged by this factor (nearest pixel), so
            small model inputs stay readable.

    Returns:
        uint8 RGB array ``(frames, CAPTION_HEIGHT + height * scale,
        len(maps) * width * scale, 3)``.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (frames, H, W, 3), got {frames.shape}")
    if not maps:
        raise ValueError("maps is empty: give at least one pathway's map")
    scale = int(scale)
    count, height, width = frames.shape[:3]
    height, width = height * scale, width * scale
    out = np.zeros((count, CAPTION_HEIGHT + height, len(maps) * width, 3), np.uint8)
    for k, heat in enumerate(maps.values()):
        view = blend(frames, heat, opacity)
        if scale > 1:
            view = view.repeat(scale, axis=1).repeat(scale, axis=2)
        out[:, CAPTION_HEIGHT:, k * width : (k + 1) * width] = view
    for index in range(count):
        image = out[index]
        for k, name in enumerate(maps):
            x = k * width
            cv2.rectangle(
                image,
                (x, CAPTION_HEIGHT),
                (x + min(width, 8 * len(name) + 8) - 1, CAPTION_HEIGHT + LABEL_HEIGHT),
                (0, 0, 0),
                -1,
            )
            _text(image, name, (x + 3, CAPTION_HEIGHT + LABEL_HEIGHT - 5))
        _text(image, caption, (4, CAPTION_HEIGHT - 7))
    return out


def frame_grid(images, columns):
    """Tiles equally sized images ``(n, h, w, 3)`` row by row, ``columns`` wide."""
    images = np.asarray(images)
    count = len(images)
    rows = -(-count // columns)
    height, width = images.shape[1:3]
    grid = np.zeros((rows * height, columns * width, 3), np.uint8)
    for index, image in enumerate(images):
        r, c = divmod(index, columns)
        grid[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    return grid
