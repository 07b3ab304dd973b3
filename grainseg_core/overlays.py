"""Colour overlays for inspecting boundary maps, grains and registration.

Every function takes numpy arrays and returns an RGB ``uint8`` array of shape
(M, N, 3), ready for ``st.image`` or PIL. Nothing here reads or writes files.

Display normalisation
---------------------
Micrographs come as uint8, uint16 or float, gray (M, N) or RGB (M, N, 3). Before they are
drawn under an overlay they pass through :func:`to_display_rgb`: a linear stretch that maps
the 0.5th percentile of the image to 0 and the 99.5th to 255 (computed on at most ~1 M
sampled pixels, NaN ignored), so a dark 16-bit SEM image and a float image look alike. A
boolean image is drawn as 0/255 without stretching; a constant image becomes mid-gray.

Confusion colours
-----------------
:func:`confusion_overlay` uses the colours of the 347H paper (``seeds/000``): TN black,
TP cyan, FP yellow, FN red, with the tolerance rule of the metrics: a predicted boundary
pixel within ``tolerance_px`` (Euclidean) of a true boundary pixel is a TP; a true boundary
pixel with no predicted pixel within ``tolerance_px`` is a FN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd
from plotly.colors import get_colorscale, hex_to_rgb, unlabel_rgb
from scipy import ndimage as ndi

from grainseg_core._validation import (
    as_2d_array,
    as_boundary_mask,
    check_int,
    check_probability_map,
)
from grainseg_core.errors import InputError

__all__ = [
    "CONFUSION_COLORS",
    "DIFFERENCE_COLORS",
    "to_display_rgb",
    "confusion_overlay",
    "boundary_overlay",
    "edge_overlay",
    "label_overlay",
    "probability_overlay",
    "difference_overlay",
    "gap_closure_sites",
    "blend_overlay",
    "false_color_overlay",
    "checkerboard_overlay",
]

Color = tuple[int, int, int]

#: Confusion colours of seeds/000: TN black, TP cyan, FP yellow, FN red.
CONFUSION_COLORS: dict[str, Color] = {
    "TN": (0, 0, 0),
    "TP": (0, 255, 255),
    "FP": (255, 255, 0),
    "FN": (255, 0, 0),
}

#: Colours of :func:`difference_overlay` on true boundary pixels.
DIFFERENCE_COLORS: dict[str, Color] = {
    "both": (170, 170, 170),
    "a_only": (0, 220, 0),
    "b_only": (255, 0, 255),
    "neither": (255, 60, 60),
}

_PERCENTILES = (0.5, 99.5)
_MAX_SAMPLES = 1_000_000


# --------------------------------------------------------------------------- helpers


def _check_color(color: Any, name: str = "color") -> np.ndarray:
    try:
        arr = np.asarray(color, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an (R, G, B) triple of 0-255 values; got {color!r}.") from exc
    if arr.shape != (3,) or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 255:
        raise InputError(f"{name} must be an (R, G, B) triple of 0-255 values; got {color!r}.")
    return arr


def _check_alpha(alpha: Any, name: str = "alpha") -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a number in [0, 1]; got {alpha!r}.") from exc
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be a number in [0, 1]; got {value}.")
    return value


def _check_tolerance(tolerance_px: Any) -> float:
    try:
        value = float(tolerance_px)
    except (TypeError, ValueError) as exc:
        raise InputError(f"tolerance_px must be a number of pixels >= 0; got {tolerance_px!r}.") from exc
    if not np.isfinite(value) or value < 0:
        raise InputError(f"tolerance_px must be a number of pixels >= 0; got {value}.")
    return value


def _image_shape(image: Any, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[..., :3]
    elif arr.ndim != 2:
        raise InputError(
            f"{name} must be a gray (M, N) or RGB (M, N, 3) image; got shape {arr.shape}."
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(f"{name} must not be empty; got shape {arr.shape}.")
    if arr.dtype != bool and not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name} must be a numeric or boolean image; got dtype {arr.dtype}.")
    return arr


def to_display_rgb(image: Any, *, name: str = "image") -> np.ndarray:
    """Turn any gray or RGB image into an RGB uint8 image for display.

    Parameters
    ----------
    image : array_like, (M, N) or (M, N, 3|4)
        Any numeric dtype, or bool. An alpha channel is dropped.
    name : str
        Argument name used in error messages.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)
        The 0.5th-99.5th percentile range stretched linearly onto 0-255 (all channels
        together, NaN drawn black); bool images as 0/255; a constant image as mid-gray.

    Examples
    --------
    >>> to_display_rgb(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)).shape
    (2, 2, 3)
    """
    arr = _image_shape(image, name)
    if arr.dtype == bool:
        out = arr.view(np.uint8) * np.uint8(255)
    else:
        step = max(1, math.ceil(math.sqrt(arr.size / _MAX_SAMPLES)))
        sample = arr[::step, ::step].astype(np.float64, copy=False)
        sample = sample[np.isfinite(sample)]
        lo = hi = 0.0
        if sample.size:
            lo, hi = (float(v) for v in np.percentile(sample, _PERCENTILES))
            if hi <= lo:
                lo, hi = float(sample.min()), float(sample.max())
        if sample.size == 0:
            out = np.zeros(arr.shape, np.uint8)
        elif hi <= lo:
            out = np.full(arr.shape, 128, np.uint8)
        elif arr.dtype in (np.uint8, np.uint16):
            # A lookup table over every possible value: one gather instead of float maths.
            levels = np.arange(256 if arr.dtype == np.uint8 else 65536, dtype=np.float64)
            lut = np.clip((levels - lo) * (255.0 / (hi - lo)), 0, 255).round().astype(np.uint8)
            out = lut[arr]
        else:
            data = arr.astype(np.float32, copy=False)
            scaled = (data - np.float32(lo)) * np.float32(255.0 / (hi - lo))
            scaled[~np.isfinite(scaled)] = 0.0
            out = np.clip(scaled, 0, 255).round().astype(np.uint8)
    if out.ndim == 2:
        out = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(out)


def _base(image: Any, shape: tuple[int, int], name: str = "image") -> np.ndarray:
    """Display RGB uint8 of ``image``, checked against ``shape``, or black."""
    if image is None:
        return np.zeros((*shape, 3), np.uint8)
    rgb = to_display_rgb(image, name=name)
    if rgb.shape[:2] != tuple(shape):
        raise InputError(
            f"{name} (shape {rgb.shape[:2]}) must match the mask (shape {tuple(shape)})."
        )
    return rgb


def _paint_classes(base: np.ndarray, classes: np.ndarray, lut: np.ndarray, alpha: float) -> np.ndarray:
    """Colour pixels of class k > 0 with ``lut[k]`` blended over ``base`` with opacity ``alpha``.

    ``base`` uint8 (M, N, 3), ``classes`` uint8 (M, N), ``lut`` uint8 (K, 3); class 0 keeps
    ``base``. Blending runs in uint8 with OpenCV (round to nearest).
    """
    # OpenCV's per-channel LUT and masked copy: several times faster than numpy fancy
    # indexing and np.where on a 2048 x 1536 x 3 frame.
    table = np.zeros((256, 1, 3), np.uint8)
    table[: len(lut), 0, :] = lut
    colors = cv2.LUT(cv2.cvtColor(np.ascontiguousarray(classes), cv2.COLOR_GRAY2RGB), table)
    if alpha < 1.0:
        colors = cv2.addWeighted(base, 1.0 - alpha, colors, alpha, 0.0)
    out = base.copy()
    cv2.copyTo(colors, np.ascontiguousarray(classes), out)
    return out


def _lut(colors: Sequence[Sequence[float]]) -> np.ndarray:
    """Class lookup table: row 0 unused (background), then the given colours."""
    return np.vstack([np.zeros((1, 3)), np.asarray(colors, float)]).round().astype(np.uint8)


def _near(mask: np.ndarray, tolerance_px: float) -> np.ndarray:
    """Pixels within ``tolerance_px`` (Euclidean) of a True pixel of ``mask``.

    Exact Euclidean distances from OpenCV (``DIST_MASK_PRECISE``), compared with the small
    slack that ``grainseg_core.metrics`` uses for its float32 distances.
    """
    if tolerance_px <= 0 or not mask.any():
        return mask.copy()
    dist = cv2.distanceTransform((~mask).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist <= tolerance_px + 1e-4


def _thicken(mask: np.ndarray, thickness: int) -> np.ndarray:
    if thickness <= 1:
        return mask
    kernel = np.ones((thickness, thickness), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _colorscale_lut(colormap: str) -> np.ndarray:
    """256 x 3 uint8 lookup table of a plotly colorscale name (e.g. 'Viridis')."""
    try:
        scale = get_colorscale(colormap)
    except Exception as exc:  # noqa: BLE001 - plotly raises PlotlyError with the valid names
        raise InputError(
            f"colormap {colormap!r} is not a plotly colorscale name (e.g. 'Viridis', "
            f"'Inferno', 'Hot'): {exc}"
        ) from exc
    stops = np.array([s for s, _ in scale], dtype=float)
    colors = np.array(
        [hex_to_rgb(c) if c.startswith("#") else unlabel_rgb(c) for _, c in scale], dtype=float
    )
    x = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(x, stops, colors[:, k]) for k in range(3)], axis=1)
    return lut.round().astype(np.uint8)


# --------------------------------------------------------------------------- boundary maps


def confusion_overlay(
    pred: Any,
    true: Any,
    *,
    tolerance_px: float = 0,
    image: Any = None,
    alpha: float = 0.75,
) -> np.ndarray:
    """Colour a predicted boundary map against the true one: TN black, TP cyan, FP yellow, FN red.

    Parameters
    ----------
    pred, true : array_like of bool, (M, N)
        Predicted and true boundary masks (True = boundary; 0/1 or 0/255 accepted).
    tolerance_px : float, default 0
        A predicted pixel within this Euclidean distance of a true boundary pixel is a TP
        (else FP); a true pixel with no predicted pixel within it is a FN. True pixels that
        are covered only through the tolerance are drawn as background.
    image : array_like, (M, N) or (M, N, 3), optional
        Micrograph drawn under the colours (TN pixels show it); see :func:`to_display_rgb`.
    alpha : float in [0, 1], default 0.75
        Opacity of the TP/FP/FN colours over ``image`` (ignored without an image).

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> true = np.zeros((3, 3), bool); true[1] = True
    >>> pred = np.zeros((3, 3), bool); pred[1, :2] = True; pred[0, 0] = True
    >>> confusion_overlay(pred, true)[:, :, 0].tolist()  # red channel: FP, TP/TP/FN rows
    [[255, 0, 0], [0, 0, 255], [0, 0, 0]]
    """
    pred_m = as_boundary_mask(pred, "pred")
    true_m = as_boundary_mask(true, "true")
    if pred_m.shape != true_m.shape:
        raise InputError(f"pred (shape {pred_m.shape}) must match true (shape {true_m.shape}).")
    tol = _check_tolerance(tolerance_px)
    a = _check_alpha(alpha)
    base = _base(image, pred_m.shape)
    if image is None:
        a = 1.0
    near_true = _near(true_m, tol)
    classes = np.zeros(pred_m.shape, np.uint8)
    classes[true_m & ~_near(pred_m, tol)] = 3  # FN
    classes[pred_m] = 2  # FP ...
    classes[pred_m & near_true] = 1  # ... unless near a true boundary: TP
    lut = _lut([CONFUSION_COLORS[k] for k in ("TP", "FP", "FN")])
    return _paint_classes(base, classes, lut, a)


def boundary_overlay(
    image: Any,
    boundary: Any,
    *,
    color: Sequence[int] = (255, 0, 0),
    thickness: int = 1,
    alpha: float = 1.0,
) -> np.ndarray:
    """Draw a boundary mask in one colour over a micrograph.

    Parameters
    ----------
    image : array_like, (M, N) or (M, N, 3)
        The micrograph (any dtype; see :func:`to_display_rgb`).
    boundary : array_like of bool, (M, N)
        True = boundary.
    color : (R, G, B), default red
    thickness : int, default 1
        Drawn line width in pixels: the mask is dilated with a ``thickness`` x ``thickness``
        square, so a 1-px line becomes ``thickness`` px wide.
    alpha : float in [0, 1], default 1
        Opacity of the colour.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> img = np.zeros((4, 4), np.uint8); b = np.zeros((4, 4), bool); b[2] = True
    >>> boundary_overlay(img, b)[2, 0].tolist()
    [255, 0, 0]
    """
    mask = as_boundary_mask(boundary, "boundary")
    col = _check_color(color)
    t = check_int(thickness, "thickness", low=1)
    a = _check_alpha(alpha)
    base = _base(image, mask.shape)
    return _paint_classes(base, _thicken(mask, t).view(np.uint8), _lut([col]), a)


def edge_overlay(
    image: Any,
    edges: Any,
    *,
    color: Sequence[int] = (0, 255, 0),
    thickness: int = 1,
    alpha: float = 1.0,
) -> np.ndarray:
    """Draw edges (e.g. from an EBSD-derived boundary map) over an image, for registration checks.

    Same as :func:`boundary_overlay` with green as the default colour; ``edges`` may be a
    boolean mask or a numeric edge map (> 0 counts as an edge).

    Parameters
    ----------
    image : array_like, (M, N) or (M, N, 3)
    edges : array_like, (M, N)
    color : (R, G, B), default green
    thickness : int, default 1
    alpha : float in [0, 1], default 1

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> edge_overlay(np.zeros((2, 2)), np.eye(2, dtype=bool))[0, 0].tolist()
    [0, 255, 0]
    """
    return boundary_overlay(image, edges, color=color, thickness=thickness, alpha=alpha)


# --------------------------------------------------------------------------- grains and maps


def _label_palette(labels: np.ndarray) -> np.ndarray:
    """Stable colours per label: golden-ratio hues, so label k always gets the same colour."""
    hue = (labels.astype(np.float64) * 0.618033988749895) % 1.0
    sat = 0.55 + 0.35 * ((labels * 7) % 3) / 2.0  # vary saturation a little to tell neighbours apart
    val = 0.95
    h6 = hue * 6.0
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    p = val * (1 - sat)
    q = val * (1 - sat * f)
    t = val * (1 - sat * (1 - f))
    r = np.choose(i, [val, q, p, p, t, val])
    g = np.choose(i, [t, val, val, q, p, p])
    b = np.choose(i, [p, p, t, val, val, q])
    return (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)


def _values_per_label(values: Any, n_labels: int) -> np.ndarray:
    """Array v of length n_labels + 1 with v[k] = value of label k (NaN where unknown)."""
    out = np.full(n_labels + 1, np.nan)
    if isinstance(values, (Mapping, pd.Series)):
        items = values.items()
        for key, val in items:
            k = int(key)
            if 1 <= k <= n_labels:
                out[k] = float(val)
        return out
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            "values must be a sequence of one number per grain (label 1 first) or a mapping "
            f"label -> value; got {type(values).__name__}."
        ) from exc
    if arr.ndim != 1 or arr.size != n_labels:
        raise InputError(
            f"values must hold one number per grain label 1..{n_labels} ({n_labels} values); "
            f"got shape {arr.shape}. Pass a mapping label -> value for a subset of grains."
        )
    out[1:] = arr
    return out


def label_overlay(
    labels: Any,
    *,
    image: Any = None,
    values: Any = None,
    colormap: str = "Viridis",
    alpha: float = 0.55,
    boundary_color: Sequence[int] = (20, 20, 20),
) -> np.ndarray:
    """Colour grains by label (stable palette) or by a per-grain value through a colormap.

    Parameters
    ----------
    labels : array_like of int, (M, N)
        Grain labels, 0 = boundary, 1..n = grains.
    image : array_like, optional
        Micrograph blended under the colours with opacity ``1 - alpha``.
    values : sequence of float (one per label 1..n) or mapping label -> float, optional
        Per-grain property (e.g. ECD). Mapped linearly from its finite min..max onto
        ``colormap``; grains without a finite value are drawn gray. Without ``values`` each
        label gets a fixed colour (golden-ratio hue of the label number, so colours do not
        change when other grains appear or vanish).
    colormap : str, default 'Viridis'
        A plotly colorscale name.
    alpha : float in [0, 1], default 0.55
        Opacity of the grain colours over ``image`` (ignored without an image).
    boundary_color : (R, G, B)
        Colour of label-0 (boundary) pixels.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> lab = np.array([[1, 0, 2]], np.int32)
    >>> rgb = label_overlay(lab, values={1: 0.0, 2: 1.0})
    >>> rgb[0, 1].tolist(), rgb[0, 0].tolist(), rgb[0, 2].tolist()
    ([20, 20, 20], [68, 1, 84], [253, 231, 37])
    """
    lab = as_2d_array(labels, "labels")
    if lab.dtype == bool or not np.issubdtype(lab.dtype, np.integer):
        raise InputError(f"labels must be an integer label image (0 = boundary); got dtype {lab.dtype}.")
    if lab.size and lab.min() < 0:
        raise InputError(f"labels must be >= 0 (0 = boundary); found {int(lab.min())}.")
    a = _check_alpha(alpha)
    bcol = _check_color(boundary_color, "boundary_color")
    n = int(lab.max()) if lab.size else 0
    if values is None:
        lut = _label_palette(np.arange(n + 1))
    else:
        vals = _values_per_label(values, n)
        cmap = _colorscale_lut(colormap)
        finite = np.isfinite(vals)
        lut = np.full((n + 1, 3), 128, np.uint8)
        if finite.any():
            lo, hi = np.nanmin(vals[finite]), np.nanmax(vals[finite])
            scaled = np.zeros_like(vals) if hi <= lo else (vals - lo) / (hi - lo)
            idx = np.clip(np.nan_to_num(scaled) * 255, 0, 255).round().astype(int)
            lut[finite] = cmap[idx[finite]]
    bcol_u8 = bcol.round().astype(np.uint8)
    lut[0] = bcol_u8
    colors = np.take(lut, lab, axis=0)  # much faster than lut[lab] for (M, N, 3) output
    if image is None:
        return colors
    base = _base(image, lab.shape)
    blended = cv2.addWeighted(base, 1.0 - a, colors, a, 0.0)
    out = np.empty_like(blended)
    out[...] = bcol_u8
    cv2.copyTo(blended, (lab > 0).view(np.uint8), out)
    return out


def probability_overlay(
    prob: Any,
    *,
    image: Any = None,
    colormap: str = "Inferno",
    alpha: float = 0.8,
) -> np.ndarray:
    """Heat map of a boundary-probability map, optionally over the micrograph.

    Parameters
    ----------
    prob : array_like of float, (M, N)
        Probabilities in [0, 1].
    image : array_like, optional
        Micrograph under the heat map. Each pixel is blended with opacity ``alpha * p``, so
        confident boundary shows the colormap and background shows the image.
    colormap : str, default 'Inferno'
        A plotly colorscale name.
    alpha : float in [0, 1], default 0.8

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> probability_overlay(np.array([[0.0, 1.0]], np.float32))[0].tolist()
    [[0, 0, 4], [252, 255, 164]]
    """
    p = check_probability_map(prob, "prob")
    a = _check_alpha(alpha)
    lut = _colorscale_lut(colormap)
    colors = np.take(lut, np.clip(p * 255, 0, 255).round().astype(np.uint8), axis=0)
    if image is None:
        return colors
    base = _base(image, p.shape)
    w = np.float32(a) * p
    return cv2.blendLinear(colors, base, w, np.float32(1.0) - w)


def _hits(pred_a: Any, pred_b: Any, true: Any, tolerance_px: float):
    a = as_boundary_mask(pred_a, "pred_a")
    b = as_boundary_mask(pred_b, "pred_b")
    t = as_boundary_mask(true, "true")
    if a.shape != t.shape or b.shape != t.shape:
        raise InputError(
            f"pred_a (shape {a.shape}), pred_b (shape {b.shape}) and true (shape {t.shape}) "
            "must have the same shape."
        )
    tol = _check_tolerance(tolerance_px)
    hit_a = t & _near(a, tol)
    hit_b = t & _near(b, tol)
    return t, hit_a, hit_b


def difference_overlay(
    pred_a: Any,
    pred_b: Any,
    true: Any,
    *,
    tolerance_px: float = 0,
    image: Any = None,
    alpha: float = 0.85,
) -> np.ndarray:
    """Show where two predictions differ on the true boundary (e.g. BCE vs BCE+TopoLoss).

    Each true boundary pixel is coloured by which prediction hits it (a predicted pixel
    within ``tolerance_px``): both gray, A only green, B only magenta, neither red
    (:data:`DIFFERENCE_COLORS`). Green runs are gaps that A closes and B leaves open.

    Parameters
    ----------
    pred_a, pred_b, true : array_like of bool, (M, N)
        Boundary masks.
    tolerance_px : float, default 0
    image : array_like, optional
        Micrograph shown under the colours (else black).
    alpha : float in [0, 1], default 0.85
        Opacity of the colours over ``image``.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> t = np.ones((1, 4), bool)
    >>> a = np.array([[1, 1, 0, 0]], bool); b = np.array([[1, 0, 1, 0]], bool)
    >>> difference_overlay(a, b, t)[0, :, 1].tolist()  # green channel
    [170, 220, 0, 60]
    """
    t, hit_a, hit_b = _hits(pred_a, pred_b, true, tolerance_px)
    al = _check_alpha(alpha)
    base = _base(image, t.shape)
    if image is None:
        al = 1.0
    classes = np.zeros(t.shape, np.uint8)
    classes[t] = 4  # neither
    classes[hit_b] = 3  # B only (overwritten below where A hits too)
    classes[hit_a] = 2  # A only
    classes[hit_a & hit_b] = 1  # both
    lut = _lut([DIFFERENCE_COLORS[k] for k in ("both", "a_only", "b_only", "neither")])
    return _paint_classes(base, classes, lut, al)


def gap_closure_sites(
    pred_a: Any,
    pred_b: Any,
    true: Any,
    *,
    tolerance_px: float = 0,
    min_size_px: int = 1,
) -> pd.DataFrame:
    """Locate the gaps in B's boundaries that A closes, for drawing markers on a page.

    A site is an 8-connected component of true boundary pixels hit by A (a predicted pixel
    within ``tolerance_px``) and not by B.

    Parameters
    ----------
    pred_a, pred_b, true : array_like of bool, (M, N)
        Boundary masks.
    tolerance_px : float, default 0
    min_size_px : int, default 1
        Components with fewer pixels are dropped.

    Returns
    -------
    pandas.DataFrame
        Columns ``row``, ``col`` (centroid, float) and ``size_px`` (int), largest first;
        empty (with these columns) when there is no such site.

    Examples
    --------
    >>> t = np.ones((1, 5), bool)
    >>> a = np.ones((1, 5), bool); b = np.array([[1, 0, 0, 1, 1]], bool)
    >>> gap_closure_sites(a, b, t).to_dict("records")
    [{'row': 0.0, 'col': 1.5, 'size_px': 2}]
    """
    _, hit_a, hit_b = _hits(pred_a, pred_b, true, tolerance_px)
    min_size = check_int(min_size_px, "min_size_px", low=1)
    site = hit_a & ~hit_b
    comp, n = ndi.label(site, structure=np.ones((3, 3), bool))
    if n == 0:
        return pd.DataFrame({"row": pd.Series(dtype=float), "col": pd.Series(dtype=float),
                             "size_px": pd.Series(dtype=int)})
    rows, cols = np.nonzero(comp)
    ids = comp[rows, cols]
    size = np.bincount(ids, minlength=n + 1)[1:]
    r = np.bincount(ids, weights=rows, minlength=n + 1)[1:] / size
    c = np.bincount(ids, weights=cols, minlength=n + 1)[1:] / size
    df = pd.DataFrame({"row": r, "col": c, "size_px": size.astype(int)})
    df = df[df["size_px"] >= min_size]
    return df.sort_values("size_px", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- registration


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    ra = to_display_rgb(a, name="a")
    rb = to_display_rgb(b, name="b")
    if ra.shape != rb.shape:
        raise InputError(
            f"a (shape {ra.shape[:2]}) must match b (shape {rb.shape[:2]}); resample one first."
        )
    return ra, rb


def blend_overlay(a: Any, b: Any, alpha: float = 0.5) -> np.ndarray:
    """Alpha-blend two images of the same size: ``(1 - alpha) * a + alpha * b``.

    Parameters
    ----------
    a, b : array_like, (M, N) or (M, N, 3)
        Any dtypes; each is display-normalised on its own (:func:`to_display_rgb`).
    alpha : float in [0, 1], default 0.5
        Weight of ``b``.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> blend_overlay(np.zeros((2, 2), bool), np.ones((2, 2), bool), 0.25)[0, 0].tolist()
    [64, 64, 64]
    """
    ra, rb = _pair(a, b)
    w = _check_alpha(alpha)
    return cv2.addWeighted(ra, 1.0 - w, rb, w, 0.0)


def false_color_overlay(a: Any, b: Any) -> np.ndarray:
    """Green-magenta composite of two gray images (``a`` in green, ``b`` in magenta).

    Where the images agree the result is gray; misregistered features show as green or
    magenta fringes (the convention of MATLAB ``imfuse``).

    Parameters
    ----------
    a, b : array_like, (M, N) or (M, N, 3)
        RGB inputs are reduced to their mean intensity after display normalisation.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> false_color_overlay(np.ones((1, 1), bool), np.zeros((1, 1), bool))[0, 0].tolist()
    [0, 255, 0]
    """
    ra, rb = _pair(a, b)
    ga = ra.mean(axis=2, dtype=np.float32).round().astype(np.uint8)
    gb = rb.mean(axis=2, dtype=np.float32).round().astype(np.uint8)
    return np.stack([gb, ga, gb], axis=-1)


def checkerboard_overlay(a: Any, b: Any, *, tile: int = 64) -> np.ndarray:
    """Checkerboard of two images of the same size: tiles alternate between ``a`` and ``b``.

    Misalignment shows as broken features at tile edges.

    Parameters
    ----------
    a, b : array_like, (M, N) or (M, N, 3)
        Any dtypes; each is display-normalised on its own.
    tile : int, default 64
        Tile side in pixels; the top-left tile shows ``a``.

    Returns
    -------
    np.ndarray, uint8, (M, N, 3)

    Examples
    --------
    >>> checkerboard_overlay(np.zeros((2, 2), bool), np.ones((2, 2), bool), tile=1)[..., 0].tolist()
    [[0, 255], [255, 0]]
    """
    ra, rb = _pair(a, b)
    t = check_int(tile, "tile", low=1)
    rows = (np.arange(ra.shape[0]) // t)[:, None]
    cols = (np.arange(ra.shape[1]) // t)[None, :]
    use_b = ((rows + cols) % 2).astype(bool)
    return np.where(use_b[..., None], rb, ra)
