"""Grain-boundary maps and grains from EBSD orientation maps.

From an :class:`~grainseg_core.io.ebsd.EBSDMap` this module computes the
misorientation across every 4-neighbour pixel edge (right and down) with the
phase's crystal symmetry, classifies each edge, reconstructs grains at EBSD
resolution, and rasterises the boundaries onto another pixel grid (the SEM image).

Edge classes (``uint8``; :data:`BOUNDARY_CLASSES`)
-----------------------------------------------------
====  ==============  =============================================================
0     none            same phase, disorientation < ``lagb_min_deg`` (or both pixels non-indexed)
1     LAGB            ``lagb_min_deg`` <= angle < ``hagb_min_deg``
2     HAGB            angle >= ``hagb_min_deg``
3     twin            Sigma-3 (60 deg about <111>) within ``twin_tolerance_deg`` (Brandon:
                      15 / sqrt(3) = 8.66 deg), cubic phases only
4     phase           the two pixels are indexed as different phases
5     non-indexed     exactly one of the two pixels is non-indexed
====  ==============  =============================================================

Edge grid to pixels: the edge between (r, c) and (r, c+1) is given to pixel
(r, c+1); the edge between (r, c) and (r+1, c) to pixel (r+1, c) (the right /
lower pixel). ``boundary`` marks a pixel if either of its two edges has a class
that counts (see :class:`GBConfig`), which yields 1-px lines that separate every
pair of grains for ``skimage.measure.label(~boundary, connectivity=1)``.
``boundary_class`` keeps the strongest class of the two edges, in the order
phase > non-indexed > HAGB > twin > LAGB.

Grains: pixels joined through edges that are same-phase, both indexed and below
the grain threshold (Sigma-3 edges also join when ``twins='exclude'``) are
4-connected components of an edge graph (``scipy.sparse.csgraph``). Labels are
1..n in raster order of each grain's first pixel; 0 = no grain (non-indexed
pixel, or a dropped small grain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components

from grainseg_core._ebsd_quat import (
    disorientation_angle_deg,
    misorientation_components,
    sigma3_deviation_deg,
)
from grainseg_core._ebsd_raster import affine_matrix, draw_edges, sample_labels, thicken
from grainseg_core.errors import ConfigError, InputError
from grainseg_core.io.ebsd import EBSDMap

__all__ = [
    "BOUNDARY_CLASSES",
    "HAGB",
    "LAGB",
    "NONE",
    "NON_INDEXED",
    "PHASE",
    "TWIN",
    "EBSDBoundaries",
    "GBConfig",
    "classify_boundaries",
    "neighbour_misorientation",
    "rasterize_boundaries",
    "rasterize_labels",
]

NONE, LAGB, HAGB, TWIN, PHASE, NON_INDEXED = 0, 1, 2, 3, 4, 5
#: Class code -> name.
BOUNDARY_CLASSES: dict[int, str] = {
    NONE: "none",
    LAGB: "lagb",
    HAGB: "hagb",
    TWIN: "twin",
    PHASE: "phase",
    NON_INDEXED: "non_indexed",
}
# Precedence when a pixel's two edges differ: phase > non-indexed > HAGB > twin > LAGB.
_RANK = np.array([0, 1, 3, 2, 5, 4], dtype=np.uint8)
_FROM_RANK = np.argsort(_RANK).astype(np.uint8)

#: Brandon criterion for Sigma-3: 15 deg / sqrt(3).
SIGMA3_BRANDON_DEG = 15.0 / math.sqrt(3.0)


@dataclass(frozen=True)
class GBConfig:
    """How EBSD edges become boundaries and grains.

    Parameters
    ----------
    lagb_min_deg : float
        Smallest disorientation that is a boundary (low-angle). Seed 000: 2; seed 004: 2.
    hagb_min_deg : float
        Smallest high-angle boundary. Seed 000: 10; seed 004: 15.
    twins : {'separate', 'include', 'exclude'}
        Sigma-3 boundaries of cubic phases: ``'separate'`` gives them class 3 and
        counts them as boundaries; ``'include'`` skips detection so they stay HAGB
        (class 2, as seed 004 merged twins into one GB class); ``'exclude'`` gives
        them class 3 but does not count them: they are not drawn and grains continue
        across them.
    twin_tolerance_deg : float
        Largest deviation from the ideal 60 deg <111> (default Brandon, 8.66 deg).
    include_lagb, include_phase, include_nonindexed : bool
        Whether LAGB, phase and non-indexed edges count as boundaries (drawn).
    grain_threshold_deg : float, optional
        Edges at or above this angle separate grains. ``None``: ``lagb_min_deg``
        when LAGB count, else ``hagb_min_deg`` (so labels agree with the drawn map).
    min_grain_size_px : int
        Grains with fewer pixels are small.
    small_grains : {'merge', 'drop'}
        ``'merge'``: each small-grain pixel takes the label of the nearest pixel of
        a kept grain (Euclidean); ``'drop'``: small grains get label 0 (as DefDAP).
        Applies to labels only; the boundary map stays the misorientation map.
    nonindexed : {'exclude', 'fill'}
        ``'exclude'``: non-indexed pixels have label 0 and edges to them are class 5;
        ``'fill'``: each non-indexed pixel first takes the orientation and phase of
        its nearest indexed pixel.

    Examples
    --------
    >>> GBConfig(lagb_min_deg=2, hagb_min_deg=10).effective_grain_threshold_deg
    2.0
    """

    lagb_min_deg: float = 2.0
    hagb_min_deg: float = 15.0
    twins: Literal["separate", "include", "exclude"] = "separate"
    twin_tolerance_deg: float = SIGMA3_BRANDON_DEG
    include_lagb: bool = True
    include_phase: bool = True
    include_nonindexed: bool = True
    grain_threshold_deg: float | None = None
    min_grain_size_px: int = 1
    small_grains: Literal["merge", "drop"] = "merge"
    nonindexed: Literal["exclude", "fill"] = "exclude"

    def __post_init__(self) -> None:
        for name in ("lagb_min_deg", "hagb_min_deg", "twin_tolerance_deg"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value <= 0 or value > 180:
                raise ConfigError(
                    f"{name} must be in (0, 180] degrees; got {getattr(self, name)!r}."
                )
            object.__setattr__(self, name, value)
        if self.hagb_min_deg < self.lagb_min_deg:
            raise ConfigError(
                f"hagb_min_deg ({self.hagb_min_deg}) must be >= lagb_min_deg ({self.lagb_min_deg})."
            )
        if self.grain_threshold_deg is not None:
            value = float(self.grain_threshold_deg)
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    "grain_threshold_deg must be a positive angle; "
                    f"got {self.grain_threshold_deg!r}."
                )
            object.__setattr__(self, "grain_threshold_deg", value)
        for name, valid in (
            ("twins", ("separate", "include", "exclude")),
            ("small_grains", ("merge", "drop")),
            ("nonindexed", ("exclude", "fill")),
        ):
            if getattr(self, name) not in valid:
                raise ConfigError(
                    f"{name} must be one of {', '.join(valid)}; got {getattr(self, name)!r}."
                )
        if int(self.min_grain_size_px) != self.min_grain_size_px or self.min_grain_size_px < 1:
            raise ConfigError(
                f"min_grain_size_px must be an integer >= 1; got {self.min_grain_size_px!r}."
            )
        object.__setattr__(self, "min_grain_size_px", int(self.min_grain_size_px))

    @property
    def effective_grain_threshold_deg(self) -> float:
        """The grain threshold in force."""
        if self.grain_threshold_deg is not None:
            return self.grain_threshold_deg
        return self.lagb_min_deg if self.include_lagb else self.hagb_min_deg

    @property
    def counted_classes(self) -> tuple[int, ...]:
        """Class codes that count as boundaries (drawn)."""
        out = [HAGB]
        if self.include_lagb:
            out.append(LAGB)
        if self.twins == "separate":
            out.append(TWIN)
        if self.include_phase:
            out.append(PHASE)
        if self.include_nonindexed:
            out.append(NON_INDEXED)
        return tuple(sorted(out))


@dataclass(frozen=True, eq=False)
class EBSDBoundaries:
    """Boundaries and grains of an EBSD map (all at EBSD resolution).

    Attributes
    ----------
    boundary_class : np.ndarray, uint8 (M, N)
        Strongest edge class per pixel (see the module docstring).
    boundary : np.ndarray, bool (M, N)
        True where a counted edge is given to the pixel (right/lower convention).
    grain_labels : np.ndarray, int32 (M, N)
        1..n grains, 0 = no grain (non-indexed or dropped small grain).
    edge_class_right : np.ndarray, uint8 (M, N-1)
        Class of the edge between (r, c) and (r, c+1).
    edge_class_down : np.ndarray, uint8 (M-1, N)
        Class of the edge between (r, c) and (r+1, c).
    misorientation_right_deg, misorientation_down_deg : np.ndarray, float32
        Disorientation angles of those edges; NaN across phase or non-indexed edges.
    step_size_um : (float, float)
        EBSD step (row, col) in micrometres.
    config : GBConfig
        The settings used.
    """

    boundary_class: np.ndarray
    boundary: np.ndarray
    grain_labels: np.ndarray
    edge_class_right: np.ndarray
    edge_class_down: np.ndarray
    misorientation_right_deg: np.ndarray
    misorientation_down_deg: np.ndarray
    step_size_um: tuple[float, float]
    config: GBConfig

    @property
    def shape(self) -> tuple[int, int]:
        """EBSD grid shape (M, N)."""
        return tuple(self.boundary.shape)  # type: ignore[return-value]

    @property
    def n_grains(self) -> int:
        """Number of grains in :attr:`grain_labels`."""
        return int(self.grain_labels.max(initial=0))

    def counted_edges(self) -> tuple[np.ndarray, np.ndarray]:
        """bool (M, N-1) and (M-1, N): edges whose class counts as boundary."""
        counted = list(self.config.counted_classes)
        return np.isin(self.edge_class_right, counted), np.isin(self.edge_class_down, counted)


# ---------------------------------------------------------------- edges


def _pairs(arr: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) pixel of each edge along ``axis`` (-1 = right, -2 = down)."""
    if axis == -1:
        return arr[..., :, :-1], arr[..., :, 1:]
    return arr[..., :-1, :], arr[..., 1:, :]


def _edges(
    q4: np.ndarray, phase_id: np.ndarray, phases: dict, axis: int, config: GBConfig | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angle (float32, NaN if undefined), class (uint8) and twin flag of each edge.

    ``q4`` holds the quaternion components first, (4, M, N).
    """
    pa, pb = _pairs(phase_id, axis)
    m4 = misorientation_components(*_pairs(q4, axis)).reshape(4, -1)
    angle = np.full(pa.size, np.nan, dtype=np.float32)
    twin = np.zeros(pa.size, dtype=bool)
    same = ((pa == pb) & (pa >= 0)).ravel()
    pa_flat = pa.ravel()
    for pid, phase in phases.items():
        sel = same & (pa_flat == pid)
        if sel.all():  # one phase, all indexed: no copies
            idx, m_sel = slice(None), m4
        elif sel.any():
            idx = np.flatnonzero(sel)
            m_sel = m4[:, idx]
        else:
            continue
        pg = phase.proper_point_group
        ang = disorientation_angle_deg(m_sel, pg)
        angle[idx] = ang
        if config is not None and config.twins != "include" and phase.is_cubic:
            # |angle - 60| <= deviation, so only edges near 60 deg can be Sigma-3.
            near = np.flatnonzero(ang >= 60.0 - config.twin_tolerance_deg - 1e-6)
            if near.size:
                dev = sigma3_deviation_deg(m_sel[:, near], pg)
                flags = np.zeros(ang.size, dtype=bool)
                flags[near] = dev <= config.twin_tolerance_deg + 1e-9
                twin[idx] = flags
    angle = angle.reshape(pa.shape)
    twin = twin.reshape(pa.shape)
    same = same.reshape(pa.shape)
    cls = np.zeros(pa.shape, dtype=np.uint8)
    if config is not None:
        with np.errstate(invalid="ignore"):
            cls[same & (angle >= config.lagb_min_deg)] = LAGB
            cls[same & (angle >= config.hagb_min_deg)] = HAGB
        cls[twin & (angle >= config.lagb_min_deg)] = TWIN
        cls[(pa >= 0) & (pb >= 0) & (pa != pb)] = PHASE
        cls[(pa >= 0) ^ (pb >= 0)] = NON_INDEXED
    return angle, cls, twin


def _components_first(quats: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(quats, -1, 0))


def _check_map(ebsd: Any) -> EBSDMap:
    if not isinstance(ebsd, EBSDMap):
        raise InputError(
            "ebsd must be an EBSDMap (from grainseg_core.io.ebsd.read_ebsd); "
            f"got {type(ebsd).__name__}."
        )
    return ebsd


def neighbour_misorientation(ebsd: EBSDMap) -> tuple[np.ndarray, np.ndarray]:
    """Disorientation angles across every right and down pixel edge.

    Parameters
    ----------
    ebsd : EBSDMap
        The orientation map.

    Returns
    -------
    right : np.ndarray, float32 (M, N-1)
        Angle in degrees between (r, c) and (r, c+1), reduced by the phase's
        proper point group; NaN when the pixels differ in phase or one is non-indexed.
    down : np.ndarray, float32 (M-1, N)
        Same between (r, c) and (r+1, c).

    Examples
    --------
    >>> from grainseg_core.io.ebsd import EBSDPhase
    >>> e = np.zeros((1, 2, 3)); e[0, 1, 0] = 30
    >>> fe = {1: EBSDPhase(1, "Fe", "m-3m")}
    >>> m = EBSDMap.from_euler(e, np.ones((1, 2), int), fe, 1.0, degrees=True)
    >>> np.round(neighbour_misorientation(m)[0], 3).tolist()
    [[30.0]]
    """
    ebsd = _check_map(ebsd)
    q4 = _components_first(ebsd.quaternions)
    right = _edges(q4, ebsd.phase_id, ebsd.phases, -1, None)[0]
    down = _edges(q4, ebsd.phase_id, ebsd.phases, -2, None)[0]
    return right, down


def _edges_to_pixels(
    right: np.ndarray, down: np.ndarray, shape: tuple[int, int], reduce
) -> np.ndarray:
    """Give each edge to its right/lower pixel and combine the two with ``reduce``."""
    from_left = np.zeros(shape, dtype=right.dtype)
    from_top = np.zeros(shape, dtype=down.dtype)
    from_left[:, 1:] = right
    from_top[1:, :] = down
    return reduce(from_left, from_top)


# ---------------------------------------------------------------- grains


def _label_grains(
    join_right: np.ndarray, join_down: np.ndarray, indexed: np.ndarray, config: GBConfig
) -> np.ndarray:
    m_rows, n_cols = indexed.shape
    node = np.arange(m_rows * n_cols, dtype=np.int64).reshape(m_rows, n_cols)
    src = np.concatenate([node[:, :-1][join_right], node[:-1, :][join_down]])
    dst = np.concatenate([node[:, 1:][join_right], node[1:, :][join_down]])
    graph = sparse.coo_matrix(
        (np.ones(src.size, dtype=np.int8), (src, dst)), shape=(node.size, node.size)
    ).tocsr()
    _, comp = connected_components(graph, directed=False)
    comp = comp.reshape(m_rows, n_cols)
    sizes = np.bincount(comp[indexed], minlength=comp.max() + 1)
    keep = sizes >= config.min_grain_size_px
    # scipy numbers components in order of their lowest node, i.e. raster order.
    new_id = np.zeros(sizes.size, dtype=np.int32)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = np.where(indexed, new_id[comp], 0).astype(np.int32)
    small = indexed & (labels == 0)
    if config.small_grains == "merge" and small.any() and keep.any():
        # Nearest pixel of a kept grain (EDT over "not yet labelled kept" pixels).
        _, idx = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        labels[small] = labels[idx[0][small], idx[1][small]]
    return labels


def classify_boundaries(ebsd: EBSDMap, *, config: GBConfig | None = None) -> EBSDBoundaries:
    """Classify every pixel edge of an EBSD map and reconstruct its grains.

    Parameters
    ----------
    ebsd : EBSDMap
        The orientation map (e.g. from :func:`grainseg_core.io.ebsd.read_ebsd`).
    config : GBConfig, optional
        Thresholds and options; default ``GBConfig()`` (LAGB 2-15 deg, HAGB >= 15,
        Sigma-3 twins as their own class).

    Returns
    -------
    EBSDBoundaries
        Edge classes and angles, pixel class map, bool boundary map and grain labels.

    Raises
    ------
    InputError
        If ``ebsd`` is not an :class:`EBSDMap`.

    Examples
    --------
    >>> from grainseg_core.io.ebsd import EBSDPhase
    >>> e = np.zeros((2, 4, 3)); e[:, 2:, 0] = 30  # two grains, 30 deg about z
    >>> ni = {1: EBSDPhase(1, "Ni", "m-3m")}
    >>> m = EBSDMap.from_euler(e, np.ones((2, 4), int), ni, 1.0, degrees=True)
    >>> b = classify_boundaries(m)
    >>> b.boundary_class.tolist()
    [[0, 0, 2, 0], [0, 0, 2, 0]]
    >>> b.grain_labels.tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2]]
    """
    ebsd = _check_map(ebsd)
    config = GBConfig() if config is None else config
    if not isinstance(config, GBConfig):
        raise InputError(f"config must be a GBConfig; got {type(config).__name__}.")
    quats, phase_id = ebsd.quaternions, ebsd.phase_id
    if config.nonindexed == "fill" and not ebsd.indexed.all():
        _, idx = ndimage.distance_transform_edt(~ebsd.indexed, return_indices=True)
        quats = quats[idx[0], idx[1]]
        phase_id = phase_id[idx[0], idx[1]]
    q4 = _components_first(quats)
    ang_r, cls_r, twin_r = _edges(q4, phase_id, ebsd.phases, -1, config)
    ang_d, cls_d, twin_d = _edges(q4, phase_id, ebsd.phases, -2, config)
    shape = ebsd.shape
    counted = list(config.counted_classes)
    boundary = _edges_to_pixels(
        np.isin(cls_r, counted), np.isin(cls_d, counted), shape, np.logical_or
    )
    ranks = _edges_to_pixels(_RANK[cls_r], _RANK[cls_d], shape, np.maximum)
    boundary_class = _FROM_RANK[ranks]

    thr = config.effective_grain_threshold_deg
    indexed = phase_id >= 0
    with np.errstate(invalid="ignore"):
        join_r = ang_r < thr  # NaN (phase / non-indexed edges) never joins
        join_d = ang_d < thr
    if config.twins == "exclude":
        join_r |= twin_r
        join_d |= twin_d
    labels = _label_grains(join_r, join_d, indexed, config)
    return EBSDBoundaries(
        boundary_class=boundary_class,
        boundary=boundary,
        grain_labels=labels,
        edge_class_right=cls_r,
        edge_class_down=cls_d,
        misorientation_right_deg=ang_r,
        misorientation_down_deg=ang_d,
        step_size_um=ebsd.step_size_um,
        config=config,
    )


# ---------------------------------------------------------------- rasterise


def _target_shape(target_shape: Any) -> tuple[int, int]:
    try:
        shape = tuple(int(s) for s in target_shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"target_shape must be (rows, cols); got {target_shape!r}.") from exc
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(
            f"target_shape must be two positive integers (rows, cols); got {target_shape!r}."
        )
    return shape  # type: ignore[return-value]


def _as_labels(labels: Any) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            "data must be an EBSDBoundaries or an integer label map (M, N); "
            f"got dtype {arr.dtype}, shape {arr.shape}."
        )
    return arr


def rasterize_boundaries(
    data: EBSDBoundaries | np.ndarray,
    *,
    target_shape: tuple[int, int],
    transform: Any = None,
    scale: float | tuple[float, float] | None = None,
    line_width_px: int = 1,
) -> np.ndarray:
    """Draw EBSD boundaries on another pixel grid (the SEM image's).

    Each counted pixel edge (or, for a label map, each edge between pixels of
    different labels, 0 included) is the segment between the two pixels' areas;
    it is mapped to the target grid and drawn as a 1-px, 8-connected line (a point
    (x, y) falls in pixel (floor(y + 0.5), floor(x + 0.5)); at scale 1 this is the
    right/lower-pixel convention), then widened by a ``line_width_px`` square.
    The frame of the EBSD map is not drawn.

    Parameters
    ----------
    data : EBSDBoundaries or np.ndarray of int (M, N)
        Boundaries (counted edges per their config) or grain labels.
    target_shape : (int, int)
        Rows and columns of the target grid.
    transform : array (2, 3) or (3, 3), or object with ``.params``, optional
        Affine map from EBSD (x, y, 1) = (col, row, 1) to target (x, y), as in
        ``skimage.transform.AffineTransform.params``.
    scale : float or (float, float), optional
        Target pixels per EBSD pixel (row, col), pixel areas aligned at the
        top-left corner. Default (no transform, no scale): the EBSD map is
        stretched to cover ``target_shape``.
    line_width_px : int
        Line width in target pixels (>= 1).

    Returns
    -------
    np.ndarray, bool ``target_shape``
        True = boundary.

    Examples
    --------
    >>> lab = np.array([[1, 2], [1, 2]], dtype=np.int32)
    >>> rasterize_boundaries(lab, target_shape=(4, 4)).astype(int).tolist()
    [[0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 1, 0]]
    """
    shape = _target_shape(target_shape)
    if isinstance(line_width_px, bool) or int(line_width_px) != line_width_px or line_width_px < 1:
        raise InputError(f"line_width_px must be an integer >= 1; got {line_width_px!r}.")
    if isinstance(data, EBSDBoundaries):
        right, down = data.counted_edges()
        source_shape = data.shape
    else:
        labels = _as_labels(data)
        right = labels[:, :-1] != labels[:, 1:]
        down = labels[:-1, :] != labels[1:, :]
        source_shape = labels.shape
    mat = affine_matrix(transform, scale, source_shape, shape)
    line = draw_edges(right, down, mat, shape)
    return thicken(line, int(line_width_px))


def rasterize_labels(
    labels: np.ndarray,
    *,
    target_shape: tuple[int, int],
    transform: Any = None,
    scale: float | tuple[float, float] | None = None,
) -> np.ndarray:
    """Resample an EBSD label map onto another grid by nearest neighbour.

    Parameters
    ----------
    labels : np.ndarray of int (M, N)
        E.g. :attr:`EBSDBoundaries.grain_labels`.
    target_shape, transform, scale
        As in :func:`rasterize_boundaries`.

    Returns
    -------
    np.ndarray ``target_shape``, dtype of ``labels``
        Label of the EBSD pixel under each target pixel centre; 0 outside the map.

    Examples
    --------
    >>> rasterize_labels(np.array([[1, 2]]), target_shape=(2, 4)).tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2]]
    """
    arr = _as_labels(labels)
    shape = _target_shape(target_shape)
    mat = affine_matrix(transform, scale, arr.shape, shape)
    return sample_labels(arr, mat, shape)
