"""Register an EBSD-derived grain-boundary map to its SEM image and measure the drift.

SEM images and EBSD maps are captured at different times, so the boundary map drifts
relative to the image: a rigid shift of up to ~40 px plus a smooth, spatially varying
field (seeds 000 and 004 in ``shared/seeds``). Training on misaligned labels teaches a
network boundaries ~9 px too wide. This module finds the drift and brings the label
onto the SEM grid:

1. **representations**: a Hessian ridge response of the SEM image (boundaries are thin
   grooves: dark lines, or bright ones, or grey-level steps; ``polarity="auto"`` picks
   from the image) and a Gaussian-blurred copy of the boundary map, so that both are
   "bright lines on black";
2. **global**: phase correlation of the downsampled representations, zero-padded so
   that shifts up to the image size are told apart from aliases, and a
   peak-to-sidelobe ratio that says whether there is a match at all; then an OpenCV
   ECC refinement (affine by default) on a small pyramid;
3. **local**: a coarse Farneback optical flow, kept where it raises the local
   correlation, then coarse-to-fine passes of tile-wise phase correlation (one batched
   FFT per pass; tiles from 3/8 to 1/8 of the image, downsampled when large). Weak,
   ridge-shaped (aperture problem) or inconsistent tiles (normalised median test) are
   rejected; a thin-plate spline or an affine fit, chosen by cross-validation, fills
   and smooths the rest into a dense residual that is composed into the field;
4. **warp** of the label with the total field (a distance-map warp that keeps 1-px
   lines connected), and quality figures before and after.

A registration that cannot work raises :class:`~grainseg_core.errors.RegistrationError`
(no overlap, flat image, empty map, incompatible shapes, NaN); one that worked with
reservations lists them in ``RegistrationResult.warnings``.

Drift fields follow the package convention: float32 (2, M, N) = (d_row, d_col) on the
SEM grid with ``ebsd_map[r + d_row, c + d_col] ~= sem_map[r, c]``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from typing import Any

import cv2
import numpy as np
import pandas as pd

from grainseg_core._registration_global import (
    MOTIONS,
    apply_matrix,
    estimate_shift,
    refine_ecc,
)
from grainseg_core._registration_local import (
    TileMeasurement,
    coarse_flow,
    compose,
    dense_from_tiles,
    gate_residual,
    identity_grid,
    measure_tiles,
    remap,
)
from grainseg_core._registration_repr import (
    AUTO_POLARITIES,
    POLARITIES,
    blurred_boundary,
    ridge_responses,
    sem_boundary_skeleton,
)
from grainseg_core.errors import ConfigError, InputError, RegistrationError
from grainseg_core.types import ProgressCallback

__all__ = [
    "RegistrationConfig",
    "GlobalAlignment",
    "RegistrationQuality",
    "RegistrationResult",
    "register",
    "warp_label",
    "measure_alignment",
    "matrix_displacement",
]

#: Dark/bright line-response ratio above which an image's boundaries count as grooves
#: (or, inverted, as bright lines): noise and pure grain-contrast steps give 1.00 +- 0.01,
#: grooved synthetic and etched images 1.2-1.9, a BSE image with bright boundaries 0.6.
_LINE_RATIO = 1.1

#: Distance from a pixel centre to its corner: a line crossing the pixel passes closer.
_HALF_DIAGONAL = math.sqrt(2.0) / 2.0


@dataclass(frozen=True)
class RegistrationConfig:
    """Options of :func:`register`.

    Attributes
    ----------
    polarity : {"auto", "dark", "bright", "both", "gradient"}
        How boundaries look in the SEM image: dark grooves (etched, channelling
        contrast), bright lines (SE edge effect, some BSE images), either, or steps
        between grains of different grey level (``"gradient"``). ``"auto"`` (default)
        picks dark or bright when the image shows clearly more of one kind of thin
        line than the other, else gradient; the choice is in
        ``GlobalAlignment.polarity``.
    ridge_sigmas : tuple of float
        Scales (px) of the SEM ridge filter; about half the groove width.
    label_sigma : float
        Blur (px) of the boundary map before correlation; match ``ridge_sigmas``.
    motion : {"translation", "euclidean", "affine", "homography"}
        Model of the global ECC refinement.
    global_max_side : int
        The global phase correlation runs on images downsampled so that their longer
        side is at most this many pixels.
    ecc_max_side : int
        Finest ECC pyramid level, as a longest side in pixels.
    ecc_iterations, ecc_epsilon, ecc_gauss_size
        ECC termination criteria and pre-blur kernel size (odd).
    whitening : float
        Exponent ``p`` of the phase-correlation normalisation ``X / |X|**p``
        (1 = pure phase correlation, 0 = plain cross-correlation).
    global_spectral_sigma, tile_spectral_sigma : float
        Gaussian smoothing (px) of the correlation surfaces.
    min_global_psr : float
        Smallest peak-to-sidelobe ratio of the global correlation accepted as a
        match; below it the pair is reported as not overlapping.
    min_overlap : float
        Smallest fraction of the SEM frame the shifted label may still cover.
    local : bool
        Estimate a spatially varying drift field after the global step.
    flow_init : bool
        Start the local step from a dense Farneback optical flow between the two
        representations (downsampled), kept only where it raises the local
        correlation: it follows strong non-rigid drift that large tiles cannot.
    flow_factor : int, optional
        Downsampling of that flow; default from the label's boundary density (grains
        about 20 px across on the work grid).
    flow_window_px : float
        Farneback window and smoothing scale, in full-resolution pixels.
    tile_fractions : tuple of float
        Tile size of each local pass as a fraction of the shorter image side; later
        passes measure the residual of the earlier ones, so decreasing sizes trade
        capture range for resolution (coarse to fine).
    tile_sizes : tuple of int, optional
        Tile sizes in pixels; when given they replace ``tile_fractions``.
    min_tile_px : int
        Smallest tile (px) a fraction may give; tiles need a few grains in them.
    min_tile_boundary_px : float
        Average number of boundary pixels a tile must hold (sets a lower bound on the
        tile size from the label's boundary density; see :meth:`pass_tiles`).
    max_work_tile : int
        A pass whose tile is larger than this runs on images downsampled by the
        smallest integer factor that brings the tile under it (speed).
    tile_overlap : float
        Fraction of a tile shared with its neighbour, in [0, 0.9].
    min_tile_psr : float
        Smallest peak-to-sidelobe ratio of a tile's correlation to accept it.
    min_tile_content : float
        Smallest mean value of a tile's representations (both); tiles without
        boundaries carry no information.
    min_tile_isotropy : float
        Smallest ratio of the two curvatures of a tile's correlation peak; below it
        the tile's boundaries all run one way and its shift along them is unknown
        (aperture problem), so it is rejected.
    spline_smoothing : float, optional
        Smoothing weight (per tile) of the thin-plate spline through the tile shifts
        (0 interpolates). None (default): chosen per pass by 5-fold cross-validation
        among an affine fit and splines from rough to smooth, so a pass that only
        measured noise adds an affine correction, not the noise.
    warp_method : {"distance", "nearest"}
        How :func:`warp_label` resamples the boundary map.
    """

    polarity: str = "auto"
    ridge_sigmas: tuple[float, ...] = (2.0,)
    label_sigma: float = 2.0
    motion: str = "affine"
    global_max_side: int = 256
    ecc_max_side: int = 256
    ecc_iterations: int = 50
    ecc_epsilon: float = 1e-5
    ecc_gauss_size: int = 5
    whitening: float = 0.8
    global_spectral_sigma: float = 5.0
    tile_spectral_sigma: float = 1.0
    min_global_psr: float = 18.0
    min_overlap: float = 0.5
    local: bool = True
    flow_init: bool = True
    flow_factor: int | None = None
    flow_window_px: float = 64.0
    tile_fractions: tuple[float, ...] = (0.375, 0.25, 0.1875, 0.125)
    tile_sizes: tuple[int, ...] | None = None
    min_tile_px: int = 48
    min_tile_boundary_px: float = 250.0
    max_work_tile: int = 128
    tile_overlap: float = 0.5
    min_tile_psr: float = 8.0
    min_tile_content: float = 0.01
    min_tile_isotropy: float = 0.15
    spline_smoothing: float | None = None
    warp_method: str = "distance"

    def pass_tiles(
        self, shape: tuple[int, int], boundary_fraction: float | None = None
    ) -> list[tuple[int, int]]:
        """``(tile_px, downsampling factor)`` of each local pass.

        Parameters
        ----------
        shape : (int, int)
            Image shape (M, N).
        boundary_fraction : float, optional
            Fraction of boundary pixels in the label. Tiles are then at least large
            enough to hold ``min_tile_boundary_px`` boundary pixels on average
            (``sqrt(min_tile_boundary_px / fraction)``): a tile with one or two boundary
            segments gives a shift only across them, and noise along them.
        """
        short = min(shape)
        smallest = float(self.min_tile_px)
        if boundary_fraction is not None and boundary_fraction > 0:
            smallest = max(smallest, math.sqrt(self.min_tile_boundary_px / boundary_fraction))
        if self.tile_sizes is not None:
            wanted = [int(t) for t in self.tile_sizes]
        else:
            wanted = [int(round(f * short)) for f in self.tile_fractions]
        out: list[tuple[int, int]] = []
        for raw in wanted:
            t = min(int(round(max(raw, smallest))), short)
            if t != raw and out and t > 0.85 * out[-1][0]:
                continue  # raised to the minimum, it (nearly) repeats the previous pass
            out.append((t, max(1, math.ceil(t / self.max_work_tile))))
        return out

    def __post_init__(self) -> None:
        if self.polarity not in ("auto", *POLARITIES):
            raise ConfigError(
                f"RegistrationConfig.polarity must be one of auto, {', '.join(POLARITIES)}; "
                f"got {self.polarity!r}."
            )
        if self.motion not in MOTIONS:
            raise ConfigError(
                f"RegistrationConfig.motion must be one of {', '.join(MOTIONS)}; "
                f"got {self.motion!r}."
            )
        if self.warp_method not in ("distance", "nearest"):
            raise ConfigError(
                "RegistrationConfig.warp_method must be 'distance' or 'nearest'; "
                f"got {self.warp_method!r}."
            )
        if not self.ridge_sigmas or min(self.ridge_sigmas) <= 0:
            raise ConfigError(
                "RegistrationConfig.ridge_sigmas must be positive pixel scales; "
                f"got {self.ridge_sigmas!r}."
            )
        if self.label_sigma < 0:
            raise ConfigError(
                f"RegistrationConfig.label_sigma must be >= 0; got {self.label_sigma}."
            )
        if self.tile_sizes is not None and any(int(t) < 16 for t in self.tile_sizes):
            raise ConfigError(
                f"RegistrationConfig.tile_sizes must be >= 16 px each; got {self.tile_sizes!r}."
            )
        if any(not 0.0 < f <= 1.0 for f in self.tile_fractions):
            raise ConfigError(
                "RegistrationConfig.tile_fractions must lie in (0, 1]; "
                f"got {self.tile_fractions!r}."
            )
        if self.min_tile_px < 16 or self.max_work_tile < 16:
            raise ConfigError(
                "RegistrationConfig.min_tile_px and max_work_tile must be >= 16 px; "
                f"got {self.min_tile_px} and {self.max_work_tile}."
            )
        if not 0.0 <= self.tile_overlap <= 0.9:
            raise ConfigError(
                f"RegistrationConfig.tile_overlap must lie in [0, 0.9]; got {self.tile_overlap}."
            )
        if not 0.0 < self.min_overlap <= 1.0:
            raise ConfigError(
                f"RegistrationConfig.min_overlap must lie in (0, 1]; got {self.min_overlap}."
            )
        if self.spline_smoothing is not None and not self.spline_smoothing >= 0:
            raise ConfigError(
                "RegistrationConfig.spline_smoothing must be >= 0 or None; "
                f"got {self.spline_smoothing}."
            )
        if self.flow_factor is not None and (
            isinstance(self.flow_factor, bool)
            or not isinstance(self.flow_factor, int)
            or self.flow_factor < 1
        ):
            raise ConfigError(
                "RegistrationConfig.flow_factor must be None or an integer >= 1; "
                f"got {self.flow_factor!r}."
            )
        if not self.flow_window_px > 0:
            raise ConfigError(
                f"RegistrationConfig.flow_window_px must be > 0 px; got {self.flow_window_px}."
            )
        if not 0.0 <= self.min_tile_isotropy <= 1.0:
            raise ConfigError(
                "RegistrationConfig.min_tile_isotropy must lie in [0, 1]; "
                f"got {self.min_tile_isotropy}."
            )
        if not 0.0 <= self.whitening <= 1.0:
            raise ConfigError(
                f"RegistrationConfig.whitening must lie in [0, 1]; got {self.whitening}."
            )
        if self.global_max_side < 64 or self.ecc_max_side < 64:
            raise ConfigError(
                "RegistrationConfig.global_max_side and ecc_max_side must be >= 64 px; "
                f"got {self.global_max_side} and {self.ecc_max_side}."
            )
        if self.ecc_gauss_size < 1 or self.ecc_gauss_size % 2 == 0:
            raise ConfigError(
                "RegistrationConfig.ecc_gauss_size must be a positive odd number; "
                f"got {self.ecc_gauss_size}."
            )


@dataclass(frozen=True)
class GlobalAlignment:
    """The global part of a registration.

    Attributes
    ----------
    matrix : ndarray (3, 3) float64
        Homogeneous transform in (row, col) SEM pixels mapping an SEM pixel to the
        position of the same feature in the label (resampled to the SEM pixel size):
        ``label[matrix @ (r, c, 1)] ~= sem[r, c]``.
    shift : (float, float)
        ``(d_row, d_col)`` found by phase correlation, before ECC.
    motion : str
        ECC motion model used.
    polarity : str
        SEM boundary polarity used (the one chosen when the config said ``"auto"``).
    psr : float
        Peak-to-sidelobe ratio of the phase correlation (tens for a real match).
    ecc : float
        ECC correlation coefficient reached (nan when ECC failed).
    ecc_converged : bool
        False when ECC failed at some pyramid level (see the result's warnings).
    """

    matrix: np.ndarray
    shift: tuple[float, float]
    motion: str
    polarity: str
    psr: float
    ecc: float
    ecc_converged: bool

    @property
    def affine(self) -> np.ndarray:
        """The top two rows of :attr:`matrix`, (2, 3); exact unless ``motion='homography'``."""
        return self.matrix[:2].copy()


@dataclass(frozen=True)
class RegistrationQuality:
    """How well a boundary map lies on the SEM image.

    Attributes
    ----------
    ncc : float
        Normalised cross-correlation (Pearson) between the SEM ridge response and the
        blurred boundary map over the pixels the map covers; higher is better.
    mean_distance_px, median_distance_px, p95_distance_px : float
        Distance (px) from each label boundary pixel to the nearest boundary pixel
        detected in the SEM image (ridge skeleton); lower is better.
    n_boundary_px : int
        Number of label boundary pixels the statistics are taken over.
    """

    ncc: float
    mean_distance_px: float
    median_distance_px: float
    p95_distance_px: float
    n_boundary_px: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict of the figures (for tables and JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RegistrationResult:
    """Everything :func:`register` found.

    Attributes
    ----------
    global_alignment : GlobalAlignment
        Phase-correlation shift and ECC matrix.
    drift : ndarray (2, M, N) float32
        Total drift (global + local) in SEM pixels, package convention:
        ``label_at_sem_scale[r + d_row, c + d_col] ~= sem[r, c]``.
    local_drift : ndarray (2, M, N) float32
        ``drift`` minus the displacement of the global transform: what the global
        model could not explain.
    displacement : ndarray (2, M, N) float32
        The same mapping expressed in pixels of the *input* boundary map, so that
        ``warp_label(ebsd_boundary, displacement)`` brings it onto the SEM grid.
        Equal to ``drift`` when the two pixel sizes are equal.
    warped_boundary : ndarray (M, N) bool
        The EBSD boundary map on the SEM grid.
    quality_before, quality_after : RegistrationQuality
        Agreement with the SEM image of the map as given (at SEM scale) and warped.
    scale : float
        EBSD pixels per SEM pixel used to resample the map (1 when sizes are equal).
    tiles : pandas.DataFrame
        One row per tile and pass: ``pass, tile_px, row, col, d_row, d_col, psr,
        accepted, pass_model`` (the residual shifts each pass measured, for a quiver of
        raw measurements; ``pass_model`` says what was fitted through the tiles:
        ``"spline(w)"`` with its smoothing weight, ``"affine"`` when that predicted
        the tiles as well, ``"mean"`` or ``"none"``).
    warnings : tuple of str
        Things that went wrong but did not stop the registration.
    timings_s : dict
        Seconds spent in ``representation``, ``global``, ``local``, ``warp``, ``quality``.
    """

    global_alignment: GlobalAlignment
    drift: np.ndarray
    local_drift: np.ndarray
    displacement: np.ndarray
    warped_boundary: np.ndarray
    quality_before: RegistrationQuality
    quality_after: RegistrationQuality
    scale: float
    tiles: pd.DataFrame
    warnings: tuple[str, ...] = ()
    timings_s: dict[str, float] = field(default_factory=dict)

    def quality_table(self) -> pd.DataFrame:
        """Quality figures before and after as a two-row table (index ``before``/``after``)."""
        return pd.DataFrame(
            [self.quality_before.as_dict(), self.quality_after.as_dict()],
            index=pd.Index(["before", "after"], name="stage"),
        )


# --------------------------------------------------------------------------- validation


def _check_sem(sem_image: Any) -> np.ndarray:
    try:
        arr = np.asarray(sem_image)
    except Exception as exc:  # noqa: BLE001 - anything numpy rejects
        raise RegistrationError(f"sem_image could not be read as an array: {exc}") from exc
    if arr.ndim != 2:
        raise RegistrationError(
            f"sem_image must be a 2-D grey image (M, N); got shape {arr.shape}. "
            "Convert colour images to grey first."
        )
    if min(arr.shape) < 32:
        raise RegistrationError(
            f"sem_image is too small to register ({arr.shape}); need >= 32x32 px."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise RegistrationError(f"sem_image must be numeric; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise RegistrationError(
            f"sem_image has {bad} NaN or infinite pixels; fill or crop them before registering."
        )
    return arr


def _check_boundary(ebsd_boundary: Any) -> np.ndarray:
    try:
        arr = np.asarray(ebsd_boundary)
    except Exception as exc:  # noqa: BLE001
        raise RegistrationError(f"ebsd_boundary could not be read as an array: {exc}") from exc
    if arr.ndim != 2:
        raise RegistrationError(
            f"ebsd_boundary must be a 2-D boundary mask (M, N); got shape {arr.shape}."
        )
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number):
            raise RegistrationError(f"ebsd_boundary must be a boolean mask; got dtype {arr.dtype}.")
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise RegistrationError(
                f"ebsd_boundary has {bad} NaN or infinite values; a boundary mask must be finite "
                "(mark unindexed EBSD points as non-boundary or crop them)."
            )
        arr = arr > 0
    if not arr.any():
        raise RegistrationError(
            "ebsd_boundary is empty (no boundary pixel); nothing to align. Check the "
            "misorientation threshold used to build the map."
        )
    if arr.all():
        raise RegistrationError("ebsd_boundary is all boundary; nothing to align. Check the map.")
    return arr


def _scale_factor(
    sem_shape: tuple[int, int],
    ebsd_shape: tuple[int, int],
    sem_pixel_size_um: float | None,
    ebsd_step_um: float | None,
) -> float:
    given = [v is not None for v in (sem_pixel_size_um, ebsd_step_um)]
    if any(given) and not all(given):
        raise RegistrationError(
            "give both sem_pixel_size_um and ebsd_step_um (or neither) to set the EBSD-to-SEM "
            f"scale; got sem_pixel_size_um={sem_pixel_size_um}, ebsd_step_um={ebsd_step_um}."
        )
    if all(given):
        values = []
        for name, value in (
            ("sem_pixel_size_um", sem_pixel_size_um),
            ("ebsd_step_um", ebsd_step_um),
        ):
            try:
                v = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise RegistrationError(
                    f"{name} must be a number of micrometres; got {value!r}."
                ) from exc
            if not math.isfinite(v) or v <= 0:
                raise RegistrationError(f"{name} must be a positive, finite number; got {value!r}.")
            values.append(v)
        return values[0] / values[1]
    if tuple(sem_shape) != tuple(ebsd_shape):
        raise RegistrationError(
            f"shapes incompatible: sem_image is {tuple(sem_shape)} but ebsd_boundary is "
            f"{tuple(ebsd_shape)}; pass sem_pixel_size_um and ebsd_step_um so the map can be "
            "resampled to the SEM pixel size, or crop/resample it to the SEM shape."
        )
    return 1.0


def _to_sem_scale(
    boundary: np.ndarray, shape: tuple[int, int], scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The boundary map resampled onto an SEM-sized canvas, and where it has data."""
    if scale == 1.0 and boundary.shape == tuple(shape):
        return boundary, np.ones(shape, np.float32)
    rows, cols = identity_grid(shape)
    # Pixel centres: EBSD index i sits at (i + 0.5) * step, SEM index j at (j + 0.5) * px.
    disp = np.stack([(rows + 0.5) * scale - 0.5 - rows, (cols + 0.5) * scale - 0.5 - cols])
    canvas = warp_label(boundary, disp.astype(np.float32), method="distance")
    valid = remap(np.ones(boundary.shape, np.float32), disp.astype(np.float32))
    if (valid > 0.5).mean() < 0.05:
        raise RegistrationError(
            f"no overlap: the EBSD map ({boundary.shape}, {scale:.3g} EBSD px per SEM px) covers "
            "less than 5% of the SEM frame; check sem_pixel_size_um and ebsd_step_um."
        )
    return canvas, valid


# --------------------------------------------------------------------------- public API


def matrix_displacement(matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Displacement field (2, M, N) float32 of a 3x3 (row, col) homogeneous transform.

    Parameters
    ----------
    matrix : ndarray (3, 3)
        Maps an output pixel ``(r, c)`` to the source position ``matrix @ (r, c, 1)``.
    shape : (int, int)
        Output grid (M, N).

    Returns
    -------
    ndarray (2, M, N) float32
        ``matrix @ (r, c, 1) - (r, c)``.

    Example
    -------
    >>> m = np.array([[1.0, 0, 3], [0, 1, -2], [0, 0, 1]])
    >>> matrix_displacement(m, (2, 2))[:, 0, 0].tolist()
    [3.0, -2.0]
    """
    matrix = np.asarray(matrix, np.float64)
    if matrix.shape == (2, 3):
        matrix = np.vstack([matrix, [0.0, 0.0, 1.0]])
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise InputError(
            f"matrix must be a finite (3, 3) or (2, 3) array; got shape {matrix.shape}."
        )
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    cols = np.arange(shape[1], dtype=np.float64)[None, :]
    r, c = apply_matrix(matrix, rows, cols)
    out = np.empty((2, int(shape[0]), int(shape[1])), np.float32)
    out[0] = r - rows
    out[1] = c - cols
    return out


def warp_label(
    label: np.ndarray,
    displacement: np.ndarray,
    *,
    method: str = "distance",
) -> np.ndarray:
    """Bring a boundary mask onto another grid with a displacement field.

    ``out[r, c] = label[r + d_row, c + d_col]`` (skimage ``warp`` convention); the
    output has the field's shape (M, N), and pixels that fall outside ``label`` are
    not boundary.

    Parameters
    ----------
    label : ndarray (P, Q) bool
        Boundary mask (True = boundary); numeric masks are read as ``label > 0``.
    displacement : ndarray (2, M, N)
        ``(d_row, d_col)`` in pixels of ``label``.
    method : {"distance", "nearest"}
        ``"nearest"`` samples the mask at the rounded position (``order=0``, halves
        rounded up); exact for integer shifts, but a fractional or non-uniform field
        can step over a pixel of a 1-px line and break it, merging grains.
        ``"distance"`` (default) samples the distance to the nearest boundary pixel
        bilinearly and keeps the pixels it puts within half a pixel diagonal
        (``sqrt(2)/2``) of a source boundary, a band widened where the field
        compresses the map (by the largest singular value of its Jacobian). Any line
        crossing a pixel passes that close to its centre, so warped lines stay
        connected and grains keep their count; on integer shifts both methods agree.

    Returns
    -------
    ndarray (M, N) bool

    Example
    -------
    >>> lab = np.zeros((5, 5), bool); lab[2, :] = True
    >>> d = np.zeros((2, 5, 5), np.float32); d[0] = 1.0  # sample one row below
    >>> np.flatnonzero(warp_label(lab, d).any(axis=1)).tolist()
    [1]
    """
    lab = np.asarray(label)
    if lab.ndim != 2:
        raise InputError(f"label must be a 2-D boundary mask (M, N); got shape {lab.shape}.")
    if lab.dtype != bool:
        if not np.issubdtype(lab.dtype, np.number):
            raise InputError(f"label must be a boolean mask; got dtype {lab.dtype}.")
        lab = lab > 0
    disp = np.asarray(displacement)
    if disp.ndim != 3 or disp.shape[0] != 2:
        raise InputError(f"displacement must have shape (2, M, N); got {disp.shape}.")
    if not np.isfinite(disp).all():
        raise InputError("displacement contains NaN or infinite values.")
    if method not in ("distance", "nearest"):
        raise InputError(f"method must be 'distance' or 'nearest'; got {method!r}.")
    disp = disp.astype(np.float32, copy=False)
    if method == "nearest":
        # Round the sampling positions ourselves: OpenCV rounds exact halves to even,
        # which on a half-pixel shift alternates direction and breaks lines.
        rows, cols = identity_grid(disp.shape[1:])
        map_r = np.floor(rows + disp[0] + 0.5).astype(np.float32)
        map_c = np.floor(cols + disp[1] + 0.5).astype(np.float32)
        out = cv2.remap(
            lab.astype(np.uint8),
            map_c,
            map_r,
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return out > 0
    if not lab.any():
        return np.zeros(disp.shape[1:], bool)
    dist = cv2.distanceTransform((~lab).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    far = np.float32(dist.max() + 2.0)
    rows, cols = identity_grid(disp.shape[1:])
    sampled = cv2.remap(
        dist,
        cols + disp[1],
        rows + disp[0],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(far),
    )
    return sampled <= _HALF_DIAGONAL * _max_stretch(disp) + 1e-4


def _max_stretch(disp: np.ndarray) -> np.ndarray | float:
    """Largest singular value of the Jacobian of ``p -> p + disp(p)``, at least 1.

    It is the number of source pixels one output pixel spans in the most compressed
    direction: where the field compresses the map, a half-pixel band of the source
    would be thinner than one output pixel and a line would break. Returns a scalar
    for a pure translation (the common case) to save the full-size arithmetic.
    """
    if float(np.ptp(disp[0])) == 0.0 and float(np.ptp(disp[1])) == 0.0:
        return 1.0
    # Drift fields are smooth: the Jacobian on a grid every few pixels, upsampled, is
    # as good as a per-pixel one and costs a fraction of it.
    step = 4 if min(disp.shape[1:]) >= 64 else 1
    coarse = disp[:, ::step, ::step].astype(np.float64)
    gr_r, gr_c = np.gradient(coarse[0], step)
    gc_r, gc_c = np.gradient(coarse[1], step)
    a, b, c, d = 1.0 + gr_r, gr_c, gc_r, 1.0 + gc_c
    frob = a * a + b * b + c * c + d * d
    det = a * d - b * c
    sigma = np.sqrt(0.5 * (frob + np.sqrt(np.maximum(frob * frob - 4 * det * det, 0.0))))
    sigma = np.maximum(sigma, 1.0).astype(np.float32)
    if step > 1:
        sigma = cv2.resize(
            sigma, (sigma.shape[1] * step, sigma.shape[0] * step), interpolation=cv2.INTER_LINEAR
        )[: disp.shape[1], : disp.shape[2]]
    return sigma


def measure_alignment(
    sem_image: np.ndarray,
    boundary: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    config: RegistrationConfig = RegistrationConfig(),
) -> RegistrationQuality:
    """Agreement between an SEM image and a boundary map on the same grid.

    Parameters
    ----------
    sem_image : ndarray (M, N)
        SEM image, any numeric dtype.
    boundary : ndarray (M, N) bool
        Boundary map on the SEM grid.
    valid : ndarray (M, N), optional
        Where the map has data (values > 0.5); defaults to everywhere.
    config : RegistrationConfig
        Supplies the ridge filter and blur settings.

    Returns
    -------
    RegistrationQuality

    Example
    -------
    >>> img = np.full((64, 64), 200, np.uint8); img[:, 30:33] = 40
    >>> lab = np.zeros((64, 64), bool); lab[:, 31] = True
    >>> measure_alignment(img, lab).median_distance_px
    0.0
    """
    sem = _check_sem(sem_image)
    lab = _check_boundary(boundary)
    if lab.shape != sem.shape:
        raise RegistrationError(
            f"boundary (shape {lab.shape}) must match sem_image (shape {sem.shape})."
        )
    mask = np.ones(sem.shape, bool) if valid is None else np.asarray(valid) > 0.5
    blurred = blurred_boundary(lab, sigma=config.label_sigma)
    candidates = AUTO_POLARITIES if config.polarity == "auto" else (config.polarity,)
    ridges = list(
        ridge_responses(sem, sigmas=config.ridge_sigmas, polarities=candidates)[0].values()
    )
    weight = mask.astype(np.float32)
    ridge = max(ridges, key=lambda r: _masked_ncc(r, blurred, weight))
    skeleton = sem_boundary_skeleton(ridge, _boundary_fraction(lab, mask))
    return _quality(ridge, _skeleton_distance(skeleton), lab, blurred, mask)


def _boundary_fraction(boundary: np.ndarray, mask: np.ndarray) -> float:
    # The SEM detector keeps twice the label's boundary density: ridge responses are
    # wider than the 1-2 px label lines and are thinned to a skeleton afterwards.
    return 2.0 * float(boundary[mask].mean()) if mask.any() else 0.05


def _skeleton_distance(skeleton: np.ndarray) -> np.ndarray | None:
    """Distance (px) of every pixel to the nearest SEM-detected boundary pixel."""
    if not skeleton.any():
        return None
    return cv2.distanceTransform((~skeleton).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _quality(
    ridge: np.ndarray,
    distance: np.ndarray | None,
    boundary: np.ndarray,
    blurred: np.ndarray,
    mask: np.ndarray,
) -> RegistrationQuality:
    """Quality figures; ``blurred`` is the label representation correlated with ``ridge``."""
    ncc = _masked_ncc(ridge, blurred, mask.astype(np.float32))
    d = distance[boundary & mask] if distance is not None else np.empty(0, np.float32)
    if d.size == 0:
        nan = float("nan")
        return RegistrationQuality(ncc, nan, nan, nan, 0)
    return RegistrationQuality(
        ncc=ncc,
        mean_distance_px=float(d.mean()),
        median_distance_px=float(np.median(d)),
        p95_distance_px=float(np.percentile(d, 95)),
        n_boundary_px=int(d.size),
    )


def _masked_ncc(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> float:
    """Pearson correlation of two images over the pixels where ``weight > 0.5``."""
    if a.size > 1_000_000:  # a quarter of the pixels estimate it to ~1e-3, 4x faster
        a, b, weight = a[::2, ::2], b[::2, ::2], weight[::2, ::2]
    mask = weight > 0.5
    if mask.sum() < 16:
        return -1.0
    x = a[mask].astype(np.float64)
    y = b[mask].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / denom) if denom > 0 else 0.0


def _tile_table(passes: list[TileMeasurement], models: list[str]) -> pd.DataFrame:
    frames = []
    for i, m in enumerate(passes):
        frames.append(
            pd.DataFrame(
                {
                    "pass": i,
                    "tile_px": m.tile,
                    "row": m.centre[..., 0].ravel(),
                    "col": m.centre[..., 1].ravel(),
                    "d_row": m.shift[..., 0].ravel(),
                    "d_col": m.shift[..., 1].ravel(),
                    "psr": m.psr.ravel(),
                    "isotropy": m.isotropy.ravel(),
                    "accepted": m.accepted.ravel(),
                    "pass_model": models[i],
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=[
                "pass",
                "tile_px",
                "row",
                "col",
                "d_row",
                "d_col",
                "psr",
                "isotropy",
                "accepted",
                "pass_model",
            ]
        )
    return pd.concat(frames, ignore_index=True)


def register(
    sem_image: np.ndarray,
    ebsd_boundary: np.ndarray,
    *,
    sem_pixel_size_um: float | None = None,
    ebsd_step_um: float | None = None,
    config: RegistrationConfig = RegistrationConfig(),
    progress: ProgressCallback | None = None,
) -> RegistrationResult:
    """Align an EBSD-derived boundary map to its SEM image; return the drift field.

    Parameters
    ----------
    sem_image : ndarray (M, N)
        SEM micrograph, any numeric dtype (NaN not allowed).
    ebsd_boundary : ndarray (P, Q) bool
        Grain-boundary map derived from EBSD (True = boundary). It may have another
        size and pixel size than the SEM image if both pixel sizes are given.
    sem_pixel_size_um, ebsd_step_um : float, optional
        SEM pixel size and EBSD step size (um); their ratio resamples the map to SEM
        pixels before registration. Required when the shapes differ.
    config : RegistrationConfig
        Options (representation, global model, tiles, warping).
    progress : callable, optional
        ``progress(done, total)`` after each stage.

    Returns
    -------
    RegistrationResult
        Global transform, total/local drift, warped map, quality before and after,
        raw tile measurements and warnings.

    Raises
    ------
    RegistrationError
        Bad input (not 2-D, NaN, empty map, incompatible shapes, flat SEM image) or a
        failed registration (no overlap: correlation peak indistinguishable from
        noise, or a shift that leaves too little of the frame covered).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> lab = np.zeros((256, 256), bool)
    >>> lab[rng.integers(0, 256, 12), :] = True; lab[:, rng.integers(0, 256, 12)] = True
    >>> sem = np.where(lab, 40, 200).astype(np.uint8)
    >>> moved = np.roll(lab, (5, -3), axis=(0, 1))
    >>> res = register(sem, moved, config=RegistrationConfig(local=False))
    >>> np.round(res.drift[:, 128, 128]).tolist()
    [5.0, -3.0]
    """
    timings: dict[str, float] = {}
    warnings_: list[str] = []
    step = 0
    total_steps = 5

    def tick() -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, total_steps)

    t0 = time.perf_counter()
    sem = _check_sem(sem_image)
    ebsd = _check_boundary(ebsd_boundary)
    scale = _scale_factor(sem.shape, ebsd.shape, sem_pixel_size_um, ebsd_step_um)
    shape = sem.shape
    canvas, valid = _to_sem_scale(ebsd, shape, scale)
    if not canvas.any():
        raise RegistrationError(
            "ebsd_boundary has no boundary pixel inside the SEM frame after resampling; check "
            "sem_pixel_size_um and ebsd_step_um."
        )
    fraction = float(canvas[valid > 0.5].mean()) if (valid > 0.5).any() else None
    schedule = config.pass_tiles(shape, fraction) if config.local else []
    total_steps += len(schedule)
    label_repr = blurred_boundary(canvas, sigma=config.label_sigma)
    candidates = AUTO_POLARITIES if config.polarity == "auto" else (config.polarity,)
    ridges, strengths = ridge_responses(sem, sigmas=config.ridge_sigmas, polarities=candidates)
    if all(not r.any() or float(r.std()) < 1e-3 for r in ridges.values()):
        raise RegistrationError(
            "sem_image is flat: no edges or grooves were found to align the boundary map to "
            f"(polarity={config.polarity!r}). Check the image (a blank or saturated frame?)."
        )
    timings["representation"] = time.perf_counter() - t0
    tick()

    # ---- global: phase correlation (per candidate polarity), then ECC
    t0 = time.perf_counter()
    phases = {
        p: estimate_shift(
            r,
            label_repr * valid,
            max_side=config.global_max_side,
            whitening=config.whitening,
            spectral_sigma=config.global_spectral_sigma,
        )
        for p, r in ridges.items()
    }
    polarity = _pick_polarity(
        strengths, {p: ph.psr for p, ph in phases.items()}, config.min_global_psr
    )
    phase, ridge = phases[polarity], ridges[polarity]
    if phase.psr < config.min_global_psr:
        raise RegistrationError(
            f"no overlap: the global correlation peak is indistinguishable from noise "
            f"(peak-to-sidelobe ratio {phase.psr:.1f} < {config.min_global_psr:g}, "
            f"polarity {polarity!r}). The boundary map may belong to another field of view or be "
            "badly scaled (check sem_pixel_size_um and ebsd_step_um), or the SEM boundaries may "
            "look different (try another RegistrationConfig.polarity)."
        )
    dr, dc = phase.shift
    covered = max(0.0, 1 - abs(dr) / shape[0]) * max(0.0, 1 - abs(dc) / shape[1])
    if covered < config.min_overlap:
        raise RegistrationError(
            f"no overlap: the estimated shift ({dr:.1f}, {dc:.1f}) px leaves only {covered:.0%} of "
            f"the SEM frame covered by the boundary map (min_overlap={config.min_overlap:g}). "
            "Check that the map belongs to this image."
        )
    tick()
    initial = np.array([[1.0, 0.0, dr], [0.0, 1.0, dc], [0.0, 0.0, 1.0]])
    ecc = refine_ecc(
        ridge,
        label_repr,
        valid,
        initial,
        motion=config.motion,
        coarse_factor=phase.factor,
        max_side=config.ecc_max_side,
        iterations=config.ecc_iterations,
        epsilon=config.ecc_epsilon,
        gauss_size=config.ecc_gauss_size,
    )
    if ecc.message:
        warnings_.append(ecc.message + "; kept the estimate of the previous level.")
    matrix = ecc.matrix
    if not np.isfinite(matrix).all() or _implausible(matrix, shape):
        warnings_.append(
            "ECC result was implausible (large scale, shear or shift change); "
            "kept the phase-correlation shift."
        )
        matrix = initial
    glob = GlobalAlignment(
        matrix=matrix,
        shift=(dr, dc),
        motion=config.motion,
        polarity=polarity,
        psr=phase.psr,
        ecc=ecc.ecc,
        ecc_converged=ecc.converged,
    )
    global_disp = matrix_displacement(matrix, shape)
    timings["global"] = time.perf_counter() - t0
    tick()

    # ---- local drift field
    t0 = time.perf_counter()
    drift = global_disp.copy()
    passes: list[TileMeasurement] = []
    models: list[str] = []
    if config.local:
        moving = remap(label_repr, drift)
        cover = remap(valid, drift)
        current = _masked_ncc(ridge, moving, cover)
        if config.flow_init:
            factor = config.flow_factor or _flow_factor(fraction)
            residual = coarse_flow(ridge, moving, factor=factor, window_px=config.flow_window_px)
            # The flow is only a starting point for the tiles. Where it lowered the local
            # agreement with the SEM image (lost in a flat or ambiguous region) it is
            # dropped; a flow that lowers the global agreement is dropped altogether.
            moved = remap(label_repr, compose(drift, residual))
            residual = gate_residual(ridge, moving, moved, residual, sigma=config.flow_window_px)
            candidate = compose(drift, residual)
            moved, moved_cover = remap(label_repr, candidate), remap(valid, candidate)
            if _masked_ncc(ridge, moved, moved_cover) >= current:
                drift, moving, cover = candidate, moved, moved_cover
        for i, (tile, factor) in enumerate(schedule):
            meas = measure_tiles(
                ridge,
                moving,
                cover,
                tile=tile,
                factor=factor,
                overlap=config.tile_overlap,
                whitening=config.whitening,
                spectral_sigma=config.tile_spectral_sigma,
                min_psr=config.min_tile_psr,
                min_content=config.min_tile_content,
                min_coverage=0.5,
                min_isotropy=config.min_tile_isotropy,
            )
            passes.append(meas)
            n_acc, n_all = int(meas.accepted.sum()), meas.accepted.size
            if n_acc == 0:
                warnings_.append(
                    f"local pass {i + 1} ({tile}-px tiles): no tile had a reliable correlation; "
                    "the pass was left out."
                )
                models.append("none")
                tick()
                continue
            if n_acc < 0.5 * n_all:
                warnings_.append(
                    f"local pass {i + 1} ({tile}-px tiles): only {n_acc} of {n_all} tiles were "
                    "reliable; the rest were filled by interpolation."
                )
            residual, model = dense_from_tiles(meas, shape, smoothing=config.spline_smoothing)
            models.append(model)
            drift = compose(drift, residual)
            moving, cover = remap(label_repr, drift), remap(valid, drift)
            tick()
    timings["local"] = time.perf_counter() - t0

    # ---- warp and quality
    t0 = time.perf_counter()
    rows, cols = identity_grid(shape)
    if scale == 1.0:
        displacement = drift
    else:
        displacement = np.stack(
            [
                (rows + drift[0] + 0.5) * scale - 0.5 - rows,
                (cols + drift[1] + 0.5) * scale - 0.5 - cols,
            ]
        ).astype(np.float32)
    warped = warp_label(ebsd, displacement, method=config.warp_method)
    timings["warp"] = time.perf_counter() - t0
    tick()

    t0 = time.perf_counter()
    mask_before = valid > 0.5
    mask_after = remap(valid, drift) > 0.5
    skeleton = sem_boundary_skeleton(ridge, _boundary_fraction(canvas, mask_before))
    distance = _skeleton_distance(skeleton)
    # The correlation "after" uses the blurred map carried by the field (not a re-blur
    # of the re-binarised warp), so it measures alignment, not resampling artefacts.
    before = _quality(ridge, distance, canvas, label_repr, mask_before)
    after = _quality(ridge, distance, warped, remap(label_repr, drift), mask_after)
    if after.ncc < before.ncc - 0.02:
        warnings_.append(
            f"registration lowered the correlation with the SEM image ({before.ncc:.3f} -> "
            f"{after.ncc:.3f}); inspect the overlays before using the corrected map."
        )
    peak = float(np.sqrt(drift[0] ** 2 + drift[1] ** 2).max())
    if peak > 0.25 * min(shape):
        warnings_.append(
            f"drift reaches {peak:.0f} px, more than a quarter of the image; inspect the overlays."
        )
    timings["quality"] = time.perf_counter() - t0
    tick()

    return RegistrationResult(
        global_alignment=glob,
        drift=drift.astype(np.float32, copy=False),
        local_drift=(drift - global_disp).astype(np.float32),
        displacement=displacement.astype(np.float32, copy=False),
        warped_boundary=warped,
        quality_before=before,
        quality_after=after,
        scale=scale,
        tiles=_tile_table(passes, models),
        warnings=tuple(warnings_),
        timings_s=timings,
    )


def _flow_factor(boundary_fraction: float | None) -> int:
    """Downsampling of the coarse flow: grains ~16-24 px across on the work grid.

    The mean grain diameter of a 1-px boundary network is about ``2 / fraction`` px;
    Farneback needs the network resolved, so the factor follows the grains, not the
    image size.
    """
    if not boundary_fraction or boundary_fraction <= 0:
        return 1
    diameter = 2.0 / boundary_fraction
    return int(np.clip(round(diameter / 20.0), 1, 8))


def _pick_polarity(strength: dict[str, float], psr: dict[str, float], min_psr: float) -> str:
    """The polarity to use among those tried.

    The image decides first: where dark lines respond clearly more than bright ones
    (99.5th percentile of the Hessian responses, ratio > ``_LINE_RATIO``) the
    boundaries are grooves, and the reverse means bright lines. The correlation peaks
    are not trusted for this: under a strong non-rigid drift every polarity
    correlates weakly and the flanks of a groove (a "bright" response beside it) can
    win by chance. Where neither line polarity dominates, boundaries are steps
    between grains of different contrast, and the gradient (which peaks on the step,
    where the line responses peak beside it) is used. A candidate whose peak is below
    ``min_psr`` gives way to the best-correlating one.
    """
    dark, bright = strength.get("dark", 0.0), strength.get("bright", 0.0)
    if len(psr) == 1:
        return next(iter(psr))
    if dark > _LINE_RATIO * bright:
        choice = "dark"
    elif bright > _LINE_RATIO * dark:
        choice = "bright"
    else:
        choice = "gradient"
    if psr.get(choice, -np.inf) >= min_psr:
        return choice
    return max(psr, key=psr.__getitem__)


def _implausible(matrix: np.ndarray, shape: tuple[int, int]) -> bool:
    """True for a global transform no SEM-EBSD drift produces (flip, >20% scale, big shear)."""
    lin = matrix[:2, :2]
    sv = np.linalg.svd(lin, compute_uv=False)
    if np.linalg.det(lin) <= 0 or sv.max() > 1.2 or sv.min() < 0.8:
        return True
    if abs(matrix[2, 0]) * shape[0] + abs(matrix[2, 1]) * shape[1] > 0.2:
        return True
    return False
