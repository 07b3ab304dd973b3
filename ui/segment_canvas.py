"""The manual-correction canvas: Fabric.js drawings -> correction strokes in image pixels.

``streamlit-drawable-canvas`` (0.13, a Streamlit components-v2 build that works with
Streamlit 1.67 without the old ``image_to_url`` shim) returns the drawing as Fabric.js
JSON. Each free-hand stroke is a ``path`` object whose commands hold absolute canvas
coordinates, each straight stroke a ``line`` object with absolute ``x1, y1, x2, y2``; when
the user moves an object with the edit tool only ``left``/``top`` change, so the shift is
recovered from where the object's bounding box would be without the move. The stroke's
colour says what it does (:data:`DRAW_COLOR` splits grains, :data:`ERASE_COLOR` merges
them). Scaled or rotated objects are taken as drawn (the edit tool is for moving).

Everything here is plain Python (no streamlit), so it is tested directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grainseg_core.corrections import MAX_STROKE_WIDTH_PX, Stroke

__all__ = ["DRAW_COLOR", "ERASE_COLOR", "canvas_size", "strokes_from_canvas"]

#: Brush colour of boundary-drawing strokes (split a grain).
DRAW_COLOR = "#ffd400"
#: Brush colour of boundary-erasing strokes (merge grains).
ERASE_COLOR = "#00c8ff"
_MODES = {DRAW_COLOR: "draw", ERASE_COLOR: "erase"}


def canvas_size(shape: tuple[int, int], max_width: int = 800) -> tuple[int, int, float]:
    """Canvas (width, height) for an image of ``shape`` and the image px per canvas px.

    Examples
    --------
    >>> canvas_size((1536, 2048))
    (800, 600, 2.56)
    >>> canvas_size((100, 200))
    (200, 100, 1.0)
    """
    rows, cols = int(shape[0]), int(shape[1])
    width = min(int(max_width), cols)
    scale = cols / width
    return width, max(1, round(rows / scale)), scale


def _pairs(values: list[Any]) -> list[tuple[float, float]]:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return list(zip(nums[0::2], nums[1::2], strict=False))


def _object_points(obj: Mapping[str, Any]) -> list[tuple[float, float]]:
    """(x, y) canvas points of a path or line object as created (before any move)."""
    kind = str(obj.get("type", "")).lower()
    if kind == "path":
        points: list[tuple[float, float]] = []
        for command in obj.get("path") or []:
            if isinstance(command, (list, tuple)) and command:
                points.extend(_pairs(list(command[1:])))
        return points
    if kind == "line":
        try:
            return [(float(obj["x1"]), float(obj["y1"])), (float(obj["x2"]), float(obj["y2"]))]
        except (KeyError, TypeError, ValueError):
            return []
    return []


def _shift(obj: Mapping[str, Any], points: list[tuple[float, float]]) -> tuple[float, float]:
    """How far the user moved the object: actual minus as-created ``left``/``top``."""
    if "left" not in obj or "top" not in obj:
        return 0.0, 0.0
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    half = float(obj.get("strokeWidth", 0) or 0) / 2.0
    expected = []
    for lo, hi, origin in (
        (min(xs), max(xs), obj.get("originX", "left")),
        (min(ys), max(ys), obj.get("originY", "top")),
    ):
        if origin == "center":
            expected.append((lo + hi) / 2.0)
        elif origin in ("right", "bottom"):
            expected.append(hi + half)
        else:
            expected.append(lo - half)
    try:
        return float(obj["left"]) - expected[0], float(obj["top"]) - expected[1]
    except (TypeError, ValueError):
        return 0.0, 0.0


def strokes_from_canvas(
    drawing: Mapping[str, Any] | None, *, scale: float, draw_width_px: float | None = None
) -> list[Stroke]:
    """Correction strokes (image pixels) from a canvas drawing.

    Parameters
    ----------
    drawing : dict or None
        ``CanvasResult.json_data`` (``{"objects": [...]}``).
    scale : float
        Image pixels per canvas pixel (:func:`canvas_size`).
    draw_width_px : float, optional
        Width in image pixels of every draw stroke (e.g. 1: a thin 8-connected cut that
        splits a grain without eating into it); default: the brush width times ``scale``.
        Erase strokes always keep the brush width, so they cover what the user painted.

    Returns
    -------
    list of Stroke
        In drawing order; objects of other colours or kinds (and empty ones) are skipped.

    Examples
    --------
    >>> d = {"objects": [{"type": "line", "x1": 10, "y1": 5, "x2": 30, "y2": 5,
    ...                   "left": 9, "top": 4, "strokeWidth": 2, "stroke": DRAW_COLOR}]}
    >>> s = strokes_from_canvas(d, scale=2.0)[0]
    >>> s.points, s.mode, s.width_px
    (((10.0, 20.0), (10.0, 60.0)), 'draw', 4.0)
    """
    strokes: list[Stroke] = []
    if not drawing:
        return strokes
    for obj in drawing.get("objects") or []:
        if not isinstance(obj, Mapping):
            continue
        mode = _MODES.get(str(obj.get("stroke", "")).lower())
        points = _object_points(obj)
        if mode is None or not points:
            continue
        dx, dy = _shift(obj, points)
        width = float(obj.get("strokeWidth", 1) or 1) * scale
        if mode == "draw" and draw_width_px is not None:
            width = float(draw_width_px)
        width = min(max(width, 1.0), MAX_STROKE_WIDTH_PX)
        rc = tuple(((y + dy) * scale, (x + dx) * scale) for x, y in points)
        strokes.append(Stroke(rc, mode=mode, width_px=width))
    return strokes
