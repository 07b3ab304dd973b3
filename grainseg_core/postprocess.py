"""From a boundary probability map to a clean boundary mask and grain labels.

The steps, in the order :func:`postprocess` runs them (each is off unless its
option in :class:`PostprocessConfig` asks for it, except the threshold):

1. **Threshold** (``"fixed"``: ``prob > threshold``; ``"otsu"``: Otsu's threshold
   of the map; ``"hysteresis"``: pixels ``> low`` that are 8-connected to a pixel
   ``> high``, so faint stretches of a line survive when the line is strong
   elsewhere).
2. **Opening** then **closing** with a disk of the given radius (px). Opening
   removes specks (and lines thinner than the disk); closing fills pin holes and
   joins boundary pieces closer than the disk.
3. **Fragment removal**: boundary pieces (8-connected) of fewer than
   ``min_fragment_px`` pixels are dropped, so specks give no false line ends.
4. **Thinning** to 1-pixel lines (``skimage.morphology.skeletonize``, frame-aware:
   the mask is mirrored across the frame first, so no grain is lost or created
   at the image edge). The 1-px lines are 8-connected, which separates
   4-connected grains: thinning keeps the grains.
5. **Gap closing**: each loose end of the boundary skeleton is bridged to the
   nearest boundary pixel within ``gap_close_px`` (centre to centre), looking
   first in a cone of half-angle ``gap_cone_deg`` about the direction the line
   was heading (estimated from its last 6 pixels), then anywhere ahead of the end.
   Ends of branches shorter than 4 px (thinning spurs at thick junctions, specks)
   are not bridged. Bridges are 1-px 8-connected lines. Ends are found on the skeleton of the mask
   (the mask itself when thinning is on), so with thick boundaries a gap is
   measured between the centre lines of the two sides.
6. **Dead-end removal** (needs thinning): boundary pixels whose 3x3 neighbourhood
   touches only one grain are dropped: walls that stop inside a grain (after gap
   closing has had its chance to join them) separate nothing, yet intercept test
   lines cross them. The grains stay the same; the boundary map agrees with them.
7. **Watershed split** of grains with a neck: distance transform of the grains,
   markers from its h-maxima (``watershed_h_px``, in px of distance), watershed
   lines added to the boundary. Two touching disks become two grains; a convex
   grain stays whole.
8. **Small-grain merge**: grains whose equivalent circle diameter (ECD =
   ``sqrt(4 area / pi)``) is below ``min_grain_size`` (px, or um with
   ``pixel_size_um``) are merged into the neighbour with which they share the
   longest boundary: the boundary pixels between them are removed (see
   :func:`merge_small_grains`). Other grains keep every pixel.

:func:`grains_from_boundary` labels the grains (4-connected, frame as boundary)
and, with ``exclude_edge_grains``, sets the grains touching the frame to 0
(they are then counted as "not a grain", like boundary pixels) and renumbers the
rest 1..n in raster order.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import cv2
import numpy as np
from skimage.filters import threshold_otsu
from skimage.morphology import disk

from grainseg_core._dead_ends import drop_dead_ends
from grainseg_core._gaps import bridge_gaps
from grainseg_core._merge import merge_small_grains_mask
from grainseg_core._skeleton import thin_mask
from grainseg_core._validation import as_boundary_mask, check_pixel_size, check_probability_map
from grainseg_core._watershed import split_necks
from grainseg_core.errors import GrainsegWarning, InputError, ModelError, unknown_name_error
from grainseg_core.grains import label_foreground

__all__ = [
    "THRESHOLD_METHODS",
    "MIN_SIZE_UNITS",
    "PostprocessConfig",
    "PostprocessResult",
    "postprocess",
    "run_postprocess",
    "grains_from_boundary",
    "threshold_probability",
    "recommended_postprocess",
    "open_close",
    "remove_fragments",
    "thin_boundary",
    "close_gaps",
    "remove_dead_ends",
    "split_grains_watershed",
    "merge_small_grains",
]

#: Names accepted by ``PostprocessConfig.threshold_method``.
THRESHOLD_METHODS: tuple[str, ...] = ("fixed", "otsu", "hysteresis")
#: Units accepted by ``PostprocessConfig.min_grain_size_unit``.
MIN_SIZE_UNITS: tuple[str, ...] = ("px", "um")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_unit_interval(value: Any, name: str) -> None:
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be a number in [0, 1]; got {value!r}.")


def _check_radius(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(
            f"{name} must be a whole number of pixels >= 0 (0 = off); got {value!r}."
        )


def _check_nonneg(value: Any, name: str, *, positive: bool = False) -> None:
    ok = _is_number(value) and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0 (0 = off)"
        raise InputError(f"{name} must be a finite number {bound}; got {value!r}.")


def _check_levels(threshold: Any, low: Any, high: Any) -> None:
    for name, value in (("threshold", threshold), ("low", low), ("high", high)):
        _check_unit_interval(value, name)
    if low > high:
        raise InputError(
            f"low ({low}) must not exceed high ({high}) for the hysteresis threshold; swap them."
        )


#: Longest gap bridged, in pixels: a longer "gap" is a missing boundary, not a gap.
MAX_GAP_PX = 256


def _check_gap(value: Any, name: str) -> None:
    _check_nonneg(value, name)
    if value > MAX_GAP_PX:
        raise InputError(
            f"{name} must be at most {MAX_GAP_PX} px; got {value!r}. Longer stretches are "
            "missing boundaries rather than gaps."
        )


def _check_cone(value: Any, name: str) -> None:
    if not _is_number(value) or not 0 < value <= 90:
        raise InputError(f"{name} must be in (0, 90] degrees; got {value!r}.")


@dataclass(frozen=True)
class PostprocessConfig:
    """Options of :func:`postprocess`; every step but the threshold is off by default.

    Attributes
    ----------
    threshold_method : {"fixed", "otsu", "hysteresis"}
        How the probability map becomes a mask.
    threshold : float
        Level for ``"fixed"`` (``prob > threshold``), in [0, 1].
    low, high : float
        Levels for ``"hysteresis"``, in [0, 1], ``low <= high``.
    opening_radius, closing_radius : int
        Disk radii in pixels for the opening and the closing (0 = off).
    min_fragment_px : int
        Drop boundary pieces (8-connected) with fewer pixels (0 = off).
    skeletonize : bool
        Thin the boundaries to 1-pixel lines.
    gap_close_px : float
        Longest gap bridged, in pixels (0 = off, at most 256).
    gap_cone_deg : float
        Half-angle of the search cone ahead of a line end, in (0, 90] degrees.
    prune_dead_ends : bool
        Drop walls that separate no two grains (needs ``skeletonize``).
    watershed_split : bool
        Split grains with a neck by a watershed of their distance transform.
    watershed_h_px : float
        Depth (px of distance) a neck must have to split a grain; > 0.
    min_grain_size : float
        Smallest grain kept, as an equivalent circle diameter (0 = off).
    min_grain_size_unit : {"px", "um"}
        Unit of ``min_grain_size``; ``"um"`` needs ``pixel_size_um``.
    exclude_edge_grains : bool
        In :func:`grains_from_boundary`, set grains touching the frame to 0.
    """

    threshold_method: str = "fixed"
    threshold: float = 0.5
    low: float = 0.3
    high: float = 0.6
    opening_radius: int = 0
    closing_radius: int = 0
    min_fragment_px: int = 0
    skeletonize: bool = False
    gap_close_px: float = 0.0
    gap_cone_deg: float = 40.0
    prune_dead_ends: bool = False
    watershed_split: bool = False
    watershed_h_px: float = 2.0
    min_grain_size: float = 0.0
    min_grain_size_unit: str = "px"
    exclude_edge_grains: bool = False

    def __post_init__(self) -> None:
        if self.threshold_method not in THRESHOLD_METHODS:
            raise unknown_name_error(
                "threshold_method", self.threshold_method, THRESHOLD_METHODS, error=InputError
            )
        _check_levels(self.threshold, self.low, self.high)
        for name in ("opening_radius", "closing_radius", "min_fragment_px"):
            _check_radius(getattr(self, name), name)
        _check_gap(self.gap_close_px, "gap_close_px")
        _check_cone(self.gap_cone_deg, "gap_cone_deg")
        if self.prune_dead_ends and not self.skeletonize:
            raise InputError(
                "prune_dead_ends needs 1-px boundaries: set skeletonize=True too (inside a "
                "thick wall no pixel touches a grain, so dead ends cannot be told apart)."
            )
        _check_nonneg(self.watershed_h_px, "watershed_h_px", positive=True)
        _check_nonneg(self.min_grain_size, "min_grain_size")
        if self.min_grain_size_unit not in MIN_SIZE_UNITS:
            raise unknown_name_error(
                "min_grain_size_unit", self.min_grain_size_unit, MIN_SIZE_UNITS, error=InputError
            )

    def min_grain_size_px(self, pixel_size_um: float | None) -> float:
        """Return ``min_grain_size`` in pixels (ECD), converting from um if needed.

        Raises
        ------
        InputError
            If the unit is ``"um"``, the size is > 0 and no pixel size is given.
        """
        if self.min_grain_size == 0 or self.min_grain_size_unit == "px":
            return float(self.min_grain_size)
        size = check_pixel_size(pixel_size_um)
        if size is None:
            raise InputError(
                f"min_grain_size is {self.min_grain_size} um but pixel_size_um is None; "
                "give the pixel size (um per pixel) or set min_grain_size_unit='px'."
            )
        return float(self.min_grain_size) / size


@dataclass(frozen=True)
class PostprocessResult:
    """What :func:`run_postprocess` returns.

    Attributes
    ----------
    boundary : bool (M, N)
        The post-processed boundary mask (what :func:`postprocess` returns).
    labels : int32 (M, N)
        Grain labels of ``boundary`` (0 = boundary or excluded edge grain).
    n_bridges : int
        Gap-closing bridges drawn.
    n_merged : int
        Small grains merged away.
    timings_ms : dict of str to float
        Wall time of each step that ran, in milliseconds.
    """

    boundary: np.ndarray
    labels: np.ndarray
    n_bridges: int = 0
    n_merged: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def n_grains(self) -> int:
        """Number of grains in ``labels``."""
        return int(self.labels.max()) if self.labels.size else 0


#: The default options (frozen, so safe as a default argument).
_DEFAULT_CONFIG = PostprocessConfig()


def _check_config(config: Any) -> PostprocessConfig:
    if not isinstance(config, PostprocessConfig):
        raise InputError(
            f"config must be a PostprocessConfig; got {type(config).__name__}. "
            "Build one with PostprocessConfig(...)."
        )
    return config


# --------------------------------------------------------------------- steps


def _threshold(
    prob: np.ndarray, method: str, threshold: float, low: float, high: float
) -> np.ndarray:
    if method == "fixed":
        return prob > threshold
    if method == "otsu":
        if float(prob.min()) == float(prob.max()):
            return np.zeros(prob.shape, dtype=bool)
        return prob > threshold_otsu(prob)
    weak = (prob > low).view(np.uint8)
    n, comp = cv2.connectedComponents(weak, connectivity=8, ltype=cv2.CV_32S)
    strong = np.zeros(n, dtype=bool)
    strong[comp[prob > high]] = True
    strong[0] = False
    return strong[comp]


def threshold_probability(
    prob: Any,
    *,
    method: str = "fixed",
    threshold: float = 0.5,
    low: float = 0.3,
    high: float = 0.6,
) -> np.ndarray:
    """Turn a boundary probability map into a boundary mask.

    Parameters
    ----------
    prob : float (M, N) in [0, 1]
        Boundary probability.
    method : {"fixed", "otsu", "hysteresis"}
        ``"fixed"``: ``prob > threshold``. ``"otsu"``: ``prob > t`` with Otsu's
        ``t`` (a constant map gives no boundary). ``"hysteresis"``: pixels
        ``> low`` in an 8-connected piece that has a pixel ``> high``.
    threshold, low, high : float
        Levels in [0, 1] (``low <= high``).

    Returns
    -------
    bool (M, N)
        True = boundary.

    Raises
    ------
    InputError
        If ``prob`` is not a finite map in [0, 1], or an option is out of range.

    Examples
    --------
    >>> p = np.array([[0.1, 0.4, 0.9], [0.2, 0.45, 0.1]], np.float32)
    >>> threshold_probability(p, method="hysteresis", low=0.3, high=0.8).astype(int)
    array([[0, 1, 1],
           [0, 1, 0]])
    """
    arr = check_probability_map(prob, "prob")
    if method not in THRESHOLD_METHODS:
        raise unknown_name_error("threshold method", method, THRESHOLD_METHODS, error=InputError)
    _check_levels(threshold, low, high)
    return _threshold(arr, method, threshold, low, high)


def _open_close(mask: np.ndarray, opening_radius: int, closing_radius: int) -> np.ndarray:
    out = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    if opening_radius > 0:
        out = cv2.morphologyEx(out, cv2.MORPH_OPEN, disk(opening_radius).astype(np.uint8))
    if closing_radius > 0:
        out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, disk(closing_radius).astype(np.uint8))
    return out.view(bool)


def open_close(boundary: Any, *, opening_radius: int = 0, closing_radius: int = 0) -> np.ndarray:
    """Open, then close, a boundary mask with disks of the given radii (px).

    Parameters
    ----------
    boundary : bool (M, N)
        Boundary mask.
    opening_radius, closing_radius : int
        Disk radii (0 = skip that operation). The image outside the frame does not
        take part (it neither erodes nor dilates the mask).

    Returns
    -------
    bool (M, N)

    Examples
    --------
    >>> b = np.zeros((7, 7), bool); b[3, :] = True; b[0, 0] = True
    >>> bool(open_close(b, opening_radius=1)[0, 0])   # the speck goes; so would a 1-px line
    False
    """
    mask = as_boundary_mask(boundary, "boundary")
    _check_radius(opening_radius, "opening_radius")
    _check_radius(closing_radius, "closing_radius")
    return _open_close(mask, int(opening_radius), int(closing_radius))


def _remove_fragments(mask: np.ndarray, min_px: int) -> np.ndarray:
    mask = np.ascontiguousarray(mask, dtype=bool)
    n, comp = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    # Sizes and removal from the boundary pixels only (a fifth of a typical map), not
    # from a lookup over the whole label image: half the time of connectedComponentsWithStats.
    pixels = np.flatnonzero(mask)
    owner = comp.ravel()[pixels]
    small = np.bincount(owner, minlength=n) < min_px
    small[0] = False
    out = mask.copy()
    out.ravel()[pixels[small[owner]]] = False
    return out


def remove_fragments(boundary: Any, *, min_px: int) -> np.ndarray:
    """Drop boundary pieces (8-connected) with fewer than ``min_px`` pixels.

    Examples
    --------
    >>> b = np.zeros((5, 9), bool); b[2, :] = True; b[0, 0] = True
    >>> int(remove_fragments(b, min_px=2).sum())
    9
    """
    mask = as_boundary_mask(boundary, "boundary")
    _check_radius(min_px, "min_px")
    return _remove_fragments(mask, int(min_px)) if min_px > 0 else mask.copy()


def thin_boundary(boundary: Any) -> np.ndarray:
    """Thin a boundary mask to 1-pixel, 8-connected lines, keeping every grain.

    The mask is mirrored across the image frame before
    :func:`skimage.morphology.skeletonize`, so walls meeting the frame are not eaten
    away from it (which would merge edge grains) and no sliver grains appear between
    the frame and a wall running along it. A mask with no grain pixel stays as it is.

    Parameters
    ----------
    boundary : bool (M, N)

    Returns
    -------
    bool (M, N)
        A subset of ``boundary`` with the same 4-connected grains.

    Examples
    --------
    >>> b = np.zeros((7, 9), bool); b[2:5, :] = True
    >>> thin_boundary(b).sum(axis=0).tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    return thin_mask(as_boundary_mask(boundary, "boundary"))


def close_gaps(boundary: Any, *, max_gap_px: float, cone_deg: float = 40.0) -> np.ndarray:
    """Bridge loose line ends to the nearest boundary within ``max_gap_px``.

    End points are found on the skeleton of ``boundary`` (on ``boundary`` itself
    when it is already 1-px thin). Each end looks for a boundary pixel within
    ``max_gap_px`` (centre to centre) in a cone of half-angle ``cone_deg`` about the
    direction its line was heading (from the last 6 skeleton pixels), else anywhere
    ahead of it (never behind, and never on its own branch); the image frame counts
    as boundary. Ends of branches shorter than 4 px (spurs that thinning leaves at
    thick junctions, specks) are not bridged. A 1-px, 8-connected straight line is
    drawn to the target. A mask
    with no loose end is returned unchanged.

    Parameters
    ----------
    boundary : bool (M, N)
    max_gap_px : float
        Longest bridge in pixels (< 1 = nothing to do).
    cone_deg : float
        Search-cone half-angle in (0, 90] degrees.

    Returns
    -------
    bool (M, N)
        ``boundary`` plus the bridges.

    Examples
    --------
    >>> b = np.zeros((9, 12), bool); b[4, :] = True; b[4, 5:8] = False
    >>> bool(close_gaps(b, max_gap_px=5)[4].all())
    True
    """
    mask = as_boundary_mask(boundary, "boundary")
    _check_gap(max_gap_px, "max_gap_px")
    _check_cone(cone_deg, "cone_deg")
    skeleton = thin_mask(mask)
    return bridge_gaps(mask, skeleton, max_gap_px=float(max_gap_px), cone_deg=float(cone_deg))[0]


def remove_dead_ends(boundary: Any) -> np.ndarray:
    """Drop the walls of a boundary map that separate no two grains.

    The mask is thinned first (:func:`thin_boundary`). A boundary pixel goes when its
    3x3 neighbourhood touches only one grain (4-connected, the frame closing them); a
    wall that stops inside a grain has that grain on both sides and goes whole, the
    junction it leaves from stays. Grains are unchanged (pixels whose removal would
    join two grains or make a new one stay).

    Parameters
    ----------
    boundary : bool (M, N)

    Returns
    -------
    bool (M, N)
        The thinned ``boundary`` without its dead ends.

    Examples
    --------
    >>> b = np.zeros((9, 12), bool); b[:, 6] = True; b[4, 1:6] = True  # a wall + a dead end
    >>> out = remove_dead_ends(b)
    >>> int(out[:, 6].sum()), int(out[4, 1:6].sum())
    (9, 0)
    """
    mask = as_boundary_mask(boundary, "boundary")
    return drop_dead_ends(thin_mask(mask))[0]


def split_grains_watershed(boundary: Any, *, h_px: float = 2.0) -> np.ndarray:
    """Split grains that have a neck, with watershed lines of their distance map.

    Markers are the h-maxima of the Euclidean distance of grain pixels to the
    boundary (the frame counting as boundary; distances quantised to 1/16 px): a
    grain splits when its distance map has two peaks that each rise at least
    ``h_px`` above the neck between them. Only grains with two or more markers are
    flooded (``skimage.segmentation.watershed``, 4-connected); its 1-px lines,
    which separate 4-connected grains, are added to the boundary.

    Parameters
    ----------
    boundary : bool (M, N)
    h_px : float
        Peak depth in pixels (> 0); larger splits fewer grains.

    Returns
    -------
    bool (M, N)
        ``boundary`` plus the watershed lines.

    Examples
    --------
    >>> from grainseg_core.grains import label_grains
    >>> rr, cc = np.mgrid[:40, :60]
    >>> two = ((rr - 20) ** 2 + (cc - 18) ** 2 < 144) | ((rr - 20) ** 2 + (cc - 40) ** 2 < 144)
    >>> int(label_grains(~two).max())
    1
    >>> int(label_grains(split_grains_watershed(~two)).max())
    2
    """
    mask = as_boundary_mask(boundary, "boundary")
    _check_nonneg(h_px, "h_px", positive=True)
    return split_necks(mask, float(h_px))


def merge_small_grains(boundary: Any, *, min_size_px: float) -> np.ndarray:
    """Merge grains with an ECD below ``min_size_px`` into a neighbour.

    A grain is small when its equivalent circle diameter ``sqrt(4 area / pi)`` is
    below ``min_size_px``. Every boundary pixel belongs to its nearest grain (a
    Voronoi split of the boundary); each small grain joins the neighbour whose
    part of the boundary touches its own along the most pixel edges (ties: the
    larger neighbour), and merged groups that are still small join again. The
    boundary pixels between members of a group are then removed; pixels that
    still separate the group from other grains stay (the whole width of a thick
    wall). Grains that take no part in a merge keep every pixel. A small grain
    with no neighbour (the only grain) stays.

    Parameters
    ----------
    boundary : bool (M, N)
    min_size_px : float
        Smallest ECD kept, in pixels (0 = off).

    Returns
    -------
    bool (M, N)
        A subset of ``boundary``.

    Examples
    --------
    >>> from grainseg_core.grains import label_grains
    >>> b = np.zeros((12, 12), bool); b[:, 8] = True; b[3, :8] = True
    >>> int(label_grains(merge_small_grains(b, min_size_px=6)).max())
    2
    """
    mask = np.ascontiguousarray(as_boundary_mask(boundary, "boundary"))
    _check_nonneg(min_size_px, "min_size_px")
    return merge_small_grains_mask(mask, math.pi / 4.0 * float(min_size_px) ** 2)[0]


# ------------------------------------------------------------------ pipeline


def _labels(boundary: np.ndarray, exclude_edge: bool) -> np.ndarray:
    labels = label_foreground(~boundary)
    if not exclude_edge or labels.size == 0:
        return labels
    edge = np.unique(
        np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    )
    keep = np.ones(int(labels.max()) + 1, dtype=bool)
    keep[edge] = False
    keep[0] = False
    lut = np.where(keep, np.cumsum(keep), 0).astype(np.int32)
    return lut[labels]


def grains_from_boundary(
    boundary: Any,
    config: PostprocessConfig = _DEFAULT_CONFIG,
    *,
    pixel_size_um: float | None = None,
) -> np.ndarray:
    """Label the grains of a boundary mask, applying edge exclusion.

    Grains are the 4-connected components of non-boundary pixels, the frame
    counting as boundary. With ``config.exclude_edge_grains``, grains with a pixel
    on the frame become 0 (like boundary pixels: "not a grain") and the others are
    renumbered 1..n in raster order of their first pixel. No other step of
    ``config`` is applied here (run :func:`postprocess` first).

    Parameters
    ----------
    boundary : bool (M, N)
    config : PostprocessConfig, optional
        Only ``exclude_edge_grains`` is used.
    pixel_size_um : float, optional
        Accepted for symmetry with :func:`postprocess`; checked, not used.

    Returns
    -------
    int32 (M, N)
        0 = boundary (or excluded), 1..n = grains.

    Examples
    --------
    >>> b = np.zeros((7, 9), bool); b[[1, 5], 1:8] = True; b[1:6, [1, 7]] = True
    >>> grains_from_boundary(b, PostprocessConfig(exclude_edge_grains=True))[3]
    array([0, 0, 1, 1, 1, 1, 1, 0, 0], dtype=int32)
    """
    mask = as_boundary_mask(boundary, "boundary")
    config = _check_config(PostprocessConfig() if config is None else config)
    check_pixel_size(pixel_size_um)
    return _labels(mask, config.exclude_edge_grains)


def _run_steps(
    prob: Any, config: PostprocessConfig | None, pixel_size_um: float | None
) -> tuple[np.ndarray, PostprocessConfig, int, int, dict[str, float]]:
    """Validate, then run every configured step; the core of :func:`postprocess`."""
    config = _check_config(PostprocessConfig() if config is None else config)
    arr = check_probability_map(prob, "prob")
    check_pixel_size(pixel_size_um)
    min_ecd_px = config.min_grain_size_px(pixel_size_um)

    times: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = (now - clock) * 1e3
        clock = now

    mask = _threshold(arr, config.threshold_method, config.threshold, config.low, config.high)
    lap("threshold")
    if config.opening_radius or config.closing_radius:
        mask = _open_close(mask, config.opening_radius, config.closing_radius)
        lap("open_close")
    if config.min_fragment_px:
        mask = _remove_fragments(mask, config.min_fragment_px)
        lap("fragments")
    mask = np.ascontiguousarray(mask, dtype=bool)
    skeleton = None
    if config.skeletonize:
        mask = skeleton = thin_mask(mask)
        lap("skeletonize")
    n_bridges = 0
    if config.gap_close_px >= 1:
        if skeleton is None:
            skeleton = thin_mask(mask)
        mask, n_bridges = bridge_gaps(
            mask, skeleton, max_gap_px=config.gap_close_px, cone_deg=config.gap_cone_deg
        )
        lap("gap_close")
    if config.prune_dead_ends:
        mask = drop_dead_ends(np.ascontiguousarray(mask))[0]
        lap("dead_ends")
    if config.watershed_split:
        mask = split_necks(mask, config.watershed_h_px)
        lap("watershed")
    n_merged = 0
    if min_ecd_px > 0:
        mask, n_merged = merge_small_grains_mask(
            np.ascontiguousarray(mask), math.pi / 4.0 * min_ecd_px**2
        )
        lap("merge_small")
    return mask, config, n_bridges, n_merged, times


def run_postprocess(
    prob: Any,
    config: PostprocessConfig = _DEFAULT_CONFIG,
    *,
    pixel_size_um: float | None = None,
) -> PostprocessResult:
    """Run every configured step; return the boundary, the grains and step timings.

    Parameters
    ----------
    prob : float (M, N) in [0, 1]
        Boundary probability map.
    config : PostprocessConfig, optional
        The steps to run (default: ``prob > 0.5`` only).
    pixel_size_um : float, optional
        Micrometres per pixel; needed when ``min_grain_size_unit == "um"``.

    Returns
    -------
    PostprocessResult
        ``boundary`` as :func:`postprocess` returns it, ``labels`` as
        :func:`grains_from_boundary` gives them (edge exclusion applied).

    Raises
    ------
    InputError
        Bad map (not 2-D, NaN, outside [0, 1]), bad config, or a size in um
        without a pixel size.

    Examples
    --------
    >>> p = np.zeros((20, 20), np.float32); p[:, 10] = 0.9; p[5:8, 10] = 0.2
    >>> r = run_postprocess(p, PostprocessConfig(gap_close_px=5))
    >>> r.n_grains, r.n_bridges
    (2, 2)
    """
    mask, config, n_bridges, n_merged, times = _run_steps(prob, config, pixel_size_um)
    start = time.perf_counter()
    labels = _labels(mask, config.exclude_edge_grains)
    times["label"] = (time.perf_counter() - start) * 1e3
    return PostprocessResult(mask, labels, n_bridges, n_merged, times)


def postprocess(
    prob: Any,
    config: PostprocessConfig = _DEFAULT_CONFIG,
    *,
    pixel_size_um: float | None = None,
) -> np.ndarray:
    """Turn a boundary probability map into a clean boundary mask.

    Runs the steps of :class:`PostprocessConfig` in the order given in this
    module's docstring: threshold, opening/closing, fragment removal, thinning,
    gap closing, watershed split, small-grain merge. Edge-grain exclusion acts on
    labels, in :func:`grains_from_boundary` / :func:`run_postprocess`.

    Parameters
    ----------
    prob : float (M, N) in [0, 1]
        Boundary probability map.
    config : PostprocessConfig, optional
        Default: ``prob > 0.5`` and nothing else.
    pixel_size_um : float, optional
        Micrometres per pixel; needed when ``min_grain_size_unit == "um"``.

    Returns
    -------
    bool (M, N)
        True = boundary. An all-boundary map stays all boundary; a map with no
        boundary gives an all-False mask (one grain).

    Raises
    ------
    InputError
        Bad map (not 2-D, NaN, outside [0, 1]), bad config, or a size in um
        without a pixel size.

    Examples
    --------
    >>> p = np.zeros((20, 20), np.float32); p[:, 10] = 0.9; p[5:8, 10] = 0.2
    >>> b = postprocess(p, PostprocessConfig(gap_close_px=5))
    >>> bool(b[:, 10].all()), b.dtype
    (True, dtype('bool'))
    """
    return _run_steps(prob, config, pixel_size_um)[0]


def recommended_postprocess(
    card: Mapping[str, Any], *, model_name: str = "the model"
) -> PostprocessConfig | None:
    """The post-processing a model card recommends, or None when it recommends none.

    Parameters
    ----------
    card : mapping
        A model card (:func:`grainseg_core.nets.serialization.read_model_card`). Its
        ``"postprocess"`` entry maps :class:`~grainseg_core.postprocess.PostprocessConfig`
        field names to values (the zoo's publishing step writes the threshold chosen on
        validation images there); fields it leaves out keep their defaults.
    model_name : str
        Names the model in messages.

    Returns
    -------
    PostprocessConfig or None
        None when the card has no (or a null) ``"postprocess"`` entry.

    Raises
    ------
    ModelError
        ``"postprocess"`` is not a mapping, or holds a value the config refuses
        (the message says which and why).

    Warns
    -----
    GrainsegWarning
        Entries that are not ``PostprocessConfig`` fields (a card written by another
        version); they are ignored.

    Examples
    --------
    >>> post = recommended_postprocess({"postprocess": {"threshold": 0.4, "skeletonize": True}})
    >>> post.threshold, post.skeletonize, post.closing_radius
    (0.4, True, 0)
    >>> recommended_postprocess({"architecture": "slim_unet"}) is None
    True
    """
    if not isinstance(card, Mapping):
        raise InputError(f"card must be a mapping (a model card); got {type(card).__name__}.")
    wanted = card.get("postprocess")
    if wanted is None:
        return None
    if not isinstance(wanted, Mapping):
        raise ModelError(
            f"the card of {model_name}: 'postprocess' must map PostprocessConfig fields to "
            f"values; got {type(wanted).__name__}. Fix the card or remove the entry."
        )
    known = {f.name for f in fields(PostprocessConfig)}
    unknown = sorted(str(k) for k in wanted if k not in known)
    if unknown:
        warnings.warn(
            f"the card of {model_name} recommends post-processing options this version does "
            f"not know ({', '.join(unknown)}); they are ignored.",
            GrainsegWarning,
            stacklevel=2,
        )
    try:
        return PostprocessConfig(**{k: v for k, v in wanted.items() if k in known})
    except (InputError, TypeError) as exc:
        raise ModelError(
            f"the card of {model_name} recommends post-processing that is not valid: {exc}"
        ) from exc
