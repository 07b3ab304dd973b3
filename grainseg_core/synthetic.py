"""Seeded synthetic microstructures with known answers: grains, twins, contrast, noise, drift.

:func:`make_microstructure` draws a polycrystal and renders an SEM-like image of
it, with the exact grain-boundary (GB) mask, grain labels, twin maps, crystal
orientations, the grain table, and an EBSD-like companion map displaced by a
known drift. :func:`make_particles` draws dark or bright particles on a matrix
(seed 001 / 003 style) with instance labels and polygon annotations.

Everything is a pure function of ``(shape, seed, config)``: the only randomness is
``numpy.random.default_rng(seed)``, so the same call gives the same bytes.

How a microstructure is made
----------------------------
1. Grains: a Laguerre (power) tessellation. Seed circles with log-normal
   diameters (mean ``mean_size_px``, ``size_sigma`` of ln ECD) are packed by
   random sequential addition and relaxed by a few capacity-constrained Lloyd
   steps, so cell ECDs follow the drawn distribution and cells are equiaxed.
   ``elongation`` stretches every cell along ``elongation_angle_deg`` (an
   area-preserving anisotropic metric).
2. Boundaries: the 1-px core line (pixels whose right or lower neighbour lies in
   another cell) dilated to ``boundary_width_px`` is the GB mask; grain labels are
   its 4-connected complement (``label_grains``), so each label is exactly one
   4-connected component and ``grain_table`` of the labels is the truth.
3. Annealing twins: in a fraction of grains, 1..``max_bands`` parallel bands
   (Sigma-3 twins: 60 degrees about a <111> of the parent) with their own
   orientation and so their own contrast. Twin boundaries are a separate class
   (``twin_boundary``) not in ``boundary`` by default; with
   ``TwinConfig(in_boundary=True)`` they join the GB mask and every lamella
   becomes its own grain, as seed 004 merged Sigma-3 twins into one GB class.
4. Contrast: each grain's Bunge Euler angles (uniform random orientation) give
   its grey level through a smooth cubic channelling function; GBs are dark
   grooves (Gaussian profile, local width 1-5 px), twin boundaries faint ones;
   then an illumination gradient, polishing scratches, blur, Poisson and Gaussian
   noise, and quantisation to uint8 (or uint16).
5. EBSD companion: the same truth seen on a grid displaced by a rigid shift plus
   a smooth non-rigid drift (see :class:`EBSDCompanion` for the convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from grainseg_core import _synthetic_render as _render
from grainseg_core._synthetic_args import check_option, check_pair, check_seed, check_shape
from grainseg_core._synthetic_drift import nonrigid_field, source_positions
from grainseg_core._synthetic_orientation import (
    channelling_intensity,
    random_euler,
    twin_euler,
)
from grainseg_core._synthetic_particles import (
    ParticleConfig,
    Particles,
    make_particles,
    write_particles_csv,
)
from grainseg_core._synthetic_tessellation import (
    anisotropy_matrix,
    place_seeds,
    power_labels,
    relax_seeds,
)
from grainseg_core.errors import ConfigError, InputError
from grainseg_core.grains import grain_table, label_grains

__all__ = [
    "GrainConfig",
    "TwinConfig",
    "ContrastConfig",
    "DriftConfig",
    "SyntheticConfig",
    "EBSDCompanion",
    "Microstructure",
    "make_microstructure",
    "ParticleConfig",
    "Particles",
    "make_particles",
    "write_particles_csv",
]


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class GrainConfig:
    """How the grains are drawn.

    Attributes
    ----------
    mean_size_px : float
        Mean of the log-normal grain ECD distribution, in pixels (3..2000).
    size_sigma : float
        Standard deviation of ln(ECD) (0..1.5); measured ECDs of interior grains
        follow it to within ~0.05.
    elongation : float
        Length/width stretch of every grain (1 = equiaxed, up to 10).
    elongation_angle_deg : float
        Direction of the stretch, counter-clockwise from the image's horizontal
        axis as displayed (the ``orientation_deg`` convention of ``grain_table``).
    relax_iterations : int
        Capacity-constrained Lloyd steps (0..20): 0 gives raw, more irregular
        power cells whose size spread is narrower than drawn.
    boundary_width_px : int
        Width of the GB label mask (1..15): the core line dilated by a square.
    """

    mean_size_px: float = 40.0
    size_sigma: float = 0.3
    elongation: float = 1.0
    elongation_angle_deg: float = 0.0
    relax_iterations: int = 4
    boundary_width_px: int = 1

    def __post_init__(self) -> None:
        check_option("GrainConfig.mean_size_px", self.mean_size_px, 3.0, 2000.0)
        check_option("GrainConfig.size_sigma", self.size_sigma, 0.0, 1.5)
        check_option("GrainConfig.elongation", self.elongation, 1.0, 10.0)
        check_option("GrainConfig.elongation_angle_deg", self.elongation_angle_deg, -360.0, 360.0)
        check_option("GrainConfig.relax_iterations", self.relax_iterations, 0, 20, integer=True)
        check_option("GrainConfig.boundary_width_px", self.boundary_width_px, 1, 15, integer=True)


@dataclass(frozen=True)
class TwinConfig:
    """Annealing twins (Sigma-3 lamellae).

    Attributes
    ----------
    fraction : float
        Probability that a grain holds twins (0..1; 0 = none).
    max_bands : int
        Each twinned grain gets 1..max_bands parallel bands (1..10).
    thickness : (float, float)
        Range of band thickness as a fraction of the grain's drawn ECD (at least 2 px).
    in_boundary : bool
        False (default): twin boundaries are their own class (``twin_boundary``),
        not in ``boundary``, and lamellae belong to their parent grain. True: twin
        boundaries join the GB mask and each lamella is a grain (seed 004).
    groove_depth : float
        Depth of a twin-boundary groove relative to a GB groove (0..1).
    """

    fraction: float = 0.3
    max_bands: int = 3
    thickness: tuple[float, float] = (0.06, 0.2)
    in_boundary: bool = False
    groove_depth: float = 0.3

    def __post_init__(self) -> None:
        check_option("TwinConfig.fraction", self.fraction, 0.0, 1.0)
        check_option("TwinConfig.max_bands", self.max_bands, 1, 10, integer=True)
        check_pair("TwinConfig.thickness", self.thickness, 0.0, 1.0)
        if not isinstance(self.in_boundary, bool):
            raise ConfigError(
                f"TwinConfig.in_boundary must be True or False; got {self.in_boundary!r}."
            )
        check_option("TwinConfig.groove_depth", self.groove_depth, 0.0, 1.0)


@dataclass(frozen=True)
class ContrastConfig:
    """Grey levels, grooves, artefacts and noise of the rendered image.

    Attributes
    ----------
    background : float
        Grey level (0..1) of the darkest orientation.
    channelling : float
        Grey-level range of the orientation (channelling) contrast; a grain is
        ``background + channelling * f(orientation)`` with ``f`` in [0, 1].
    groove_depth : float
        Fraction of the grey level removed at a GB core (0..1).
    groove_fwhm_px : (float, float)
        Range of the groove's full width at half depth; it varies smoothly
        over the image within this range (GB grooves 1-5 px wide).
    gradient : float
        Relative amplitude of the smooth illumination gradient (0..1).
    scratches : float
        Mean number of polishing scratches (Poisson), straight lines at random angles.
    scratch_contrast : float
        Grey-level change along a scratch (0..1).
    blur_sigma_px : float
        Gaussian blur sigma (probe size), 0 = none.
    photons : float
        Shot noise: Poisson counts at grey level 1 (0 = no shot noise).
    gaussian_noise : float
        Standard deviation of the added Gaussian noise (grey levels 0..1).
    dtype : str
        ``"uint8"`` or ``"uint16"``.
    """

    background: float = 0.3
    channelling: float = 0.5
    groove_depth: float = 0.6
    groove_fwhm_px: tuple[float, float] = (1.5, 4.0)
    gradient: float = 0.15
    scratches: float = 2.0
    scratch_contrast: float = 0.08
    blur_sigma_px: float = 0.7
    photons: float = 200.0
    gaussian_noise: float = 0.02
    dtype: str = "uint8"

    def __post_init__(self) -> None:
        check_option("ContrastConfig.background", self.background, 0.0, 1.0)
        check_option("ContrastConfig.channelling", self.channelling, 0.0, 1.0)
        check_option("ContrastConfig.groove_depth", self.groove_depth, 0.0, 1.0)
        check_pair("ContrastConfig.groove_fwhm_px", self.groove_fwhm_px, 0.5, 50.0)
        check_option("ContrastConfig.gradient", self.gradient, 0.0, 1.0)
        check_option("ContrastConfig.scratches", self.scratches, 0.0, 100.0)
        check_option("ContrastConfig.scratch_contrast", self.scratch_contrast, 0.0, 1.0)
        check_option("ContrastConfig.blur_sigma_px", self.blur_sigma_px, 0.0, 20.0)
        check_option("ContrastConfig.photons", self.photons, 0.0, 1e9)
        check_option("ContrastConfig.gaussian_noise", self.gaussian_noise, 0.0, 1.0)
        if self.dtype not in ("uint8", "uint16"):
            raise ConfigError(
                f"ContrastConfig.dtype must be 'uint8' or 'uint16'; got {self.dtype!r}."
            )


@dataclass(frozen=True)
class DriftConfig:
    """Displacement of the EBSD companion from the SEM image.

    Attributes
    ----------
    enabled : bool
        Make the EBSD companion (and the drift) at all.
    shift_px : (float, float) or None
        Rigid part (d_row, d_col) in pixels; None = random, uniform in the disc
        of radius ``max_shift_px``.
    max_shift_px : float
        Largest random rigid shift (0..200).
    max_nonrigid_px : float
        Peak magnitude of the smooth non-rigid part (0..200; it reaches this value
        somewhere). Seed 000 reports drifts up to ~40 px.
    spacing_px : float
        Spacing of the non-rigid field's random control points: larger = smoother.
    """

    enabled: bool = True
    shift_px: tuple[float, float] | None = None
    max_shift_px: float = 8.0
    max_nonrigid_px: float = 8.0
    spacing_px: float = 512.0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"DriftConfig.enabled must be True or False; got {self.enabled!r}.")
        if self.shift_px is not None:
            if not isinstance(self.shift_px, tuple) or len(self.shift_px) != 2:
                raise ConfigError(
                    "DriftConfig.shift_px must be a (d_row, d_col) tuple or None; "
                    f"got {self.shift_px!r}."
                )
            check_option("DriftConfig.shift_px[0]", self.shift_px[0], -200.0, 200.0)
            check_option("DriftConfig.shift_px[1]", self.shift_px[1], -200.0, 200.0)
        check_option("DriftConfig.max_shift_px", self.max_shift_px, 0.0, 200.0)
        check_option("DriftConfig.max_nonrigid_px", self.max_nonrigid_px, 0.0, 200.0)
        check_option("DriftConfig.spacing_px", self.spacing_px, 16.0, 1e6)


@dataclass(frozen=True)
class SyntheticConfig:
    """All options of :func:`make_microstructure`.

    Attributes
    ----------
    grains, twins, contrast, drift
        The sub-configurations (see each class).
    pixel_size_um : float or None
        Micrometres per pixel reported with the result (and used in the grain table).
    """

    grains: GrainConfig = field(default_factory=GrainConfig)
    twins: TwinConfig = field(default_factory=TwinConfig)
    contrast: ContrastConfig = field(default_factory=ContrastConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    pixel_size_um: float | None = 0.1

    def __post_init__(self) -> None:
        for f, cls in (
            ("grains", GrainConfig),
            ("twins", TwinConfig),
            ("contrast", ContrastConfig),
            ("drift", DriftConfig),
        ):
            if not isinstance(getattr(self, f), cls):
                raise ConfigError(
                    f"SyntheticConfig.{f} must be a {cls.__name__}; "
                    f"got {type(getattr(self, f)).__name__}."
                )
        if self.pixel_size_um is not None:
            check_option("SyntheticConfig.pixel_size_um", self.pixel_size_um, 1e-9, 1e9)

    def to_dict(self) -> dict[str, Any]:
        """Return the options as plain JSON-ready values (tuples become lists)."""

        def conv(obj: Any) -> Any:
            if hasattr(obj, "__dataclass_fields__"):
                return {f.name: conv(getattr(obj, f.name)) for f in fields(obj)}
            if isinstance(obj, tuple):
                return [conv(v) for v in obj]
            return obj

        return conv(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyntheticConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        subs = {
            "grains": GrainConfig,
            "twins": TwinConfig,
            "contrast": ContrastConfig,
            "drift": DriftConfig,
        }
        kwargs: dict[str, Any] = {}
        for key, value in dict(data).items():
            if key in subs:
                sub = subs[key]
                names = {f.name for f in fields(sub)}
                unknown = set(value) - names
                if unknown:
                    raise ConfigError(
                        f"unknown {key} option(s) {sorted(unknown)}; valid: {sorted(names)}."
                    )
                kwargs[key] = sub(
                    **{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
                )
            elif key == "pixel_size_um":
                kwargs[key] = value
            else:
                raise ConfigError(
                    f"unknown SyntheticConfig option '{key}'; "
                    "valid: grains, twins, contrast, drift, pixel_size_um."
                )
        return cls(**kwargs)


# ---------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class EBSDCompanion:
    """The synthetic truth as an EBSD map would show it, on a drifted grid.

    All maps are (M, N), on a pixel grid of the SEM image's size. With the drift
    ``d`` (2, M, N) of :class:`Microstructure` (convention of CONTRIBUTING.md),
    ``ebsd_map[r + d_row, c + d_col] ~ sem_map[r, c]``; so
    ``skimage.transform.warp(labels, np.mgrid[:M, :N] + d, order=0)`` brings the
    EBSD labels back onto the SEM image, exactly except at grain edges where the
    drift compresses the grid (over 99 % of pixels for a 20 px drift).

    Every EBSD pixel shows one SEM-side point (the canvas extends past the SEM
    frame, so points outside it still have a grain and an orientation): each
    SEM-side pixel ``x`` is pushed to the EBSD pixel nearest ``x + d(x)`` (order-0
    warp of the truth); EBSD pixels nothing lands on pull from ``x = y - d(x)``.

    Attributes
    ----------
    boundary : bool (M, N)
        GB mask recomputed on the EBSD grid from the drifted orientation map
        (closed lines, same width and twin policy as the SEM mask).
    labels : int32 (M, N)
        The SEM grain labels carried by the drift: the same grain numbers as
        ``Microstructure.labels``; 0 on SEM boundary pixels and where the EBSD
        pixel sees a point outside the SEM frame.
    euler : float32 (M, N, 3)
        Bunge Euler angles (radians) per pixel, twins included, defined everywhere.
    in_sem_frame : bool (M, N)
        True where the EBSD pixel sees a point inside the SEM frame.
    """

    boundary: np.ndarray
    labels: np.ndarray
    euler: np.ndarray
    in_sem_frame: np.ndarray


@dataclass(frozen=True, eq=False)
class Microstructure:
    """A synthetic micrograph and its exact answers (treat the arrays as read-only).

    Attributes
    ----------
    image : uint8 or uint16 (M, N)
        The SEM-like image.
    boundary : bool (M, N)
        GB mask (True = boundary); twin boundaries only with ``TwinConfig(in_boundary=True)``.
    labels : int32 (M, N)
        Grains 1..n = 4-connected components of ``~boundary`` (``label_grains``), 0 = boundary.
    twins : bool (M, N)
        Pixels inside twin lamellae (never on ``boundary``).
    twin_boundary : bool (M, N)
        Twin-boundary mask (same width as the GB mask), never overlapping GB-only pixels.
    euler : float64 (n, 3)
        Bunge Euler angles (radians) of grain ``k`` in row ``k - 1`` (a lamella's own
        when twins are in the boundary, else the parent's).
    ebsd : EBSDCompanion or None
        The drifted EBSD-like maps (None with ``DriftConfig(enabled=False)``).
    drift : float32 (2, M, N) or None
        (d_row, d_col) on the SEM grid: ``ebsd[r + d_row, c + d_col] ~ sem[r, c]``;
        equals ``shift`` plus the non-rigid part.
    shift : (float, float) or None
        The rigid part of the drift (d_row, d_col).
    grain_table : pandas.DataFrame
        ``grain_table(labels, pixel_size_um=pixel_size_um)``.
    pixel_size_um : float or None
    config : SyntheticConfig
        The options in force (convenience arguments applied).
    seed : int
    """

    image: np.ndarray
    boundary: np.ndarray
    labels: np.ndarray
    twins: np.ndarray
    twin_boundary: np.ndarray
    euler: np.ndarray
    ebsd: EBSDCompanion | None
    drift: np.ndarray | None
    shift: tuple[float, float] | None
    grain_table: pd.DataFrame
    pixel_size_um: float | None
    config: SyntheticConfig
    seed: int

    @property
    def n_grains(self) -> int:
        """Number of grains (the largest label)."""
        return int(self.labels.max()) if self.labels.size else 0


# ---------------------------------------------------------------- the generator


def _tessellate(
    rng: np.random.Generator, canvas: tuple[int, int], pad: int, cfg: GrainConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell index per canvas pixel, plus per-cell centre (pixel space) and drawn ECD."""
    a_matrix = anisotropy_matrix(cfg.elongation, cfg.elongation_angle_deg)
    # Seeds also fill a margin so that cells at the canvas edge are complete cells.
    margin = 2.0 * cfg.mean_size_px * math.sqrt(cfg.elongation)
    lo = np.array([-pad - margin, -pad - margin])
    hi = np.array([canvas[0] - pad + margin, canvas[1] - pad + margin])
    seeds = place_seeds(rng, lo, hi, a_matrix, mean_diameter=cfg.mean_size_px, sigma=cfg.size_sigma)
    origin = (-float(pad), -float(pad))
    # Lloyd steps on a grid with ~8 coarse pixels across the smallest typical grain.
    factor = int(min(8, max(1, cfg.mean_size_px * math.exp(-cfg.size_sigma) / 8)))
    seeds = relax_seeds(
        seeds, canvas, origin, a_matrix, iterations=cfg.relax_iterations, factor=factor
    )
    cells = power_labels(canvas, origin, a_matrix, seeds)
    centres = seeds.points @ np.linalg.inv(a_matrix).T  # back to (row, col) pixel space
    return cells, centres, seeds.diameters


def _twin_bands(
    rng: np.random.Generator,
    cells: np.ndarray,
    centres: np.ndarray,
    diameters: np.ndarray,
    pad: int,
    cfg: TwinConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (twin mask on the canvas, per-cell Sigma-3 variant)."""
    k = len(diameters)
    twinned = rng.random(k) < cfg.fraction
    variant = rng.integers(0, 4, k)
    theta = rng.uniform(0.0, math.pi, k)
    n_bands = rng.integers(1, cfg.max_bands + 1, k)
    offset = rng.uniform(-0.35, 0.35, (k, cfg.max_bands)) * diameters[:, None]
    width = np.maximum(rng.uniform(*cfg.thickness, (k, cfg.max_bands)) * diameters[:, None], 2.0)
    lo = np.where(np.arange(cfg.max_bands) < n_bands[:, None], offset - width / 2, np.inf)
    hi = lo + width
    mask = np.zeros(cells.shape, dtype=bool)
    flat = np.flatnonzero(twinned[cells])
    if flat.size == 0:
        return mask, variant
    cell = cells.ravel()[flat]
    rows, cols = np.divmod(flat, cells.shape[1])
    # Coordinate across the bands, u = (x - centre) . normal, as a per-cell affine map.
    a, b = np.cos(theta), np.sin(theta)
    c = -(pad + centres[:, 0]) * a - (pad + centres[:, 1]) * b
    u = rows * a[cell] + cols * b[cell] + c[cell]
    inside = np.zeros(flat.size, dtype=bool)
    for band in range(cfg.max_bands):  # a few bands, each vectorised over all pixels
        inside |= (u >= lo[cell, band]) & (u < hi[cell, band])
    mask.ravel()[flat[inside]] = True
    return mask, variant


def _ebsd_sources(
    drift_canvas: np.ndarray,
    nonrigid: np.ndarray,
    shift: tuple[float, float],
    pad: int,
    shape: tuple[int, int],
) -> np.ndarray:
    """Flat canvas index of the SEM pixel each EBSD pixel shows, (M, N) intp.

    Push-forward first: every canvas pixel ``x`` lands on the EBSD pixel nearest
    ``x + d(x)`` (rounded as ``floor(. + 0.5)``, like a nearest-neighbour warp), and
    where several land on one pixel the largest index wins (``np.maximum.at``:
    deterministic). This makes ``warp(ebsd, grid + drift, order=0)`` give back the
    SEM map wherever the drift does not compress the grid. EBSD pixels nothing lands
    on (where it stretches) take the pull-back ``x = y - d(x)``, rounded.
    """
    m, n = shape
    mc, nc = drift_canvas.shape[1:]
    rows = np.arange(mc, dtype=np.float64)[:, None] - (pad - 0.5)
    cols = np.arange(nc, dtype=np.float64)[None, :] - (pad - 0.5)
    t_row = np.floor(rows + drift_canvas[0]).astype(np.intp)
    t_col = np.floor(cols + drift_canvas[1]).astype(np.intp)
    hit = (t_row >= 0) & (t_row < m) & (t_col >= 0) & (t_col < n)
    source = np.full(m * n, -1, dtype=np.intp)
    np.maximum.at(source, t_row[hit] * n + t_col[hit], np.flatnonzero(hit))
    holes = np.flatnonzero(source < 0)
    if holes.size:
        h_row, h_col = np.divmod(holes, n)
        x_row, x_col = source_positions(nonrigid, shift, pad, shape, h_row, h_col)
        source[holes] = np.clip(np.rint(x_row).astype(np.intp), 0, mc - 1) * nc + np.clip(
            np.rint(x_col).astype(np.intp), 0, nc - 1
        )
    return source.reshape(m, n)


def make_microstructure(
    shape: tuple[int, int],
    *,
    seed: int,
    config: SyntheticConfig | None = None,
    mean_grain_size_px: float | None = None,
    elongation: float | None = None,
    twin_fraction: float | None = None,
) -> Microstructure:
    """Draw a synthetic polycrystal and render its SEM image, labels and EBSD companion.

    Parameters
    ----------
    shape : (M, N)
        Image size in pixels (each side >= 16).
    seed : int
        Seed of ``numpy.random.default_rng``: the same (shape, seed, config)
        gives byte-identical results.
    config : SyntheticConfig, optional
        All options; default ``SyntheticConfig()``.
    mean_grain_size_px, elongation, twin_fraction : float, optional
        Shortcuts that replace ``config.grains.mean_size_px``,
        ``config.grains.elongation`` and ``config.twins.fraction``.

    Returns
    -------
    Microstructure
        Image (M, N), GB mask, labels, twin maps, per-grain Euler angles, EBSD
        companion, drift (2, M, N) and the grain table; see :class:`Microstructure`.

    Raises
    ------
    InputError
        If ``shape`` or ``seed`` is invalid or the image would exceed the pixel limit.
    ConfigError
        If an option is out of range.

    Examples
    --------
    >>> ms = make_microstructure((128, 160), seed=1, mean_grain_size_px=24)
    >>> ms.image.shape, ms.image.dtype, ms.labels.dtype, ms.drift.shape
    ((128, 160), dtype('uint8'), dtype('int32'), (2, 128, 160))
    >>> len(ms.grain_table) == ms.n_grains == ms.euler.shape[0]
    True
    """
    m, n = check_shape(shape)
    seed = check_seed(seed)
    if config is None:
        config = SyntheticConfig()
    if not isinstance(config, SyntheticConfig):
        raise InputError(f"config must be a SyntheticConfig; got {type(config).__name__}.")
    grains_cfg = config.grains
    if mean_grain_size_px is not None:
        grains_cfg = replace(grains_cfg, mean_size_px=mean_grain_size_px)
    if elongation is not None:
        grains_cfg = replace(grains_cfg, elongation=elongation)
    twins_cfg = (
        config.twins if twin_fraction is None else replace(config.twins, fraction=twin_fraction)
    )
    config = replace(config, grains=grains_cfg, twins=twins_cfg)
    c_cfg, d_cfg = config.contrast, config.drift
    rng = np.random.default_rng(seed)

    # Drift first: its size sets the canvas margin the EBSD view needs.
    shift: tuple[float, float] | None = None
    pad = 0
    if d_cfg.enabled:
        if d_cfg.shift_px is not None:
            shift = (float(d_cfg.shift_px[0]), float(d_cfg.shift_px[1]))
        else:
            radius = d_cfg.max_shift_px * math.sqrt(rng.random())
            angle = rng.uniform(0.0, 2.0 * math.pi)
            shift = (radius * math.sin(angle), radius * math.cos(angle))
        pad = int(math.ceil(math.hypot(*shift) + d_cfg.max_nonrigid_px)) + 2
    canvas = (m + 2 * pad, n + 2 * pad)
    crop = (slice(pad, pad + m), slice(pad, pad + n))

    # 1. grains, 3. twins and orientations, on the canvas.
    cells, centres, diameters = _tessellate(rng, canvas, pad, grains_cfg)
    n_cells = len(diameters)
    if twins_cfg.fraction > 0:
        twin_mask, variant = _twin_bands(rng, cells, centres, diameters, pad, twins_cfg)
    else:
        twin_mask, variant = np.zeros(canvas, dtype=bool), np.zeros(n_cells, dtype=np.int64)
    parent = random_euler(rng, n_cells)
    orientations = np.concatenate([parent, twin_euler(parent, variant)])  # (2K, 3)
    orient = cells + np.int32(n_cells) * twin_mask.astype(np.int32)

    # 2. boundaries and labels.
    width = grains_cfg.boundary_width_px
    gb_core = _render.core_lines(cells)
    twin_core = _render.core_lines(twin_mask, same=cells)
    gb_wide = _render.dilate(gb_core, width)
    tw_wide = _render.dilate(twin_core, width) & ~gb_wide
    boundary_c = gb_wide | tw_wide if twins_cfg.in_boundary else gb_wide
    boundary = np.ascontiguousarray(boundary_c[crop])
    labels = label_grains(boundary)
    twin_boundary = np.ascontiguousarray(tw_wide[crop])
    twins = twin_mask[crop] & ~boundary

    # Orientation id per grain: constant over each grain by construction (core lines
    # separate ids), so the mean over the grain is that id exactly.
    ids = (orient if twins_cfg.in_boundary else cells)[crop]
    area = np.bincount(labels.ravel())
    id_sum = np.bincount(labels.ravel(), weights=ids.ravel().astype(np.float64))
    grain_ids = np.rint(id_sum[1:] / np.maximum(area[1:], 1)).astype(np.intp)
    euler = orientations[grain_ids]

    # 4. the image.
    level = (c_cfg.background + c_cfg.channelling * channelling_intensity(orientations)).astype(
        np.float32
    )
    image = level[orient[crop]]
    lo_w, hi_w = c_cfg.groove_fwhm_px
    fwhm = lo_w + (hi_w - lo_w) * 0.5 * (
        1.0 + _render.smooth_field(rng, canvas, 4.0 * grains_cfg.mean_size_px)[0]
    )
    image *= 1.0 - np.float32(c_cfg.groove_depth) * _render.groove_profile(gb_core, fwhm)[crop]
    if twin_core.any() and twins_cfg.groove_depth > 0:
        depth = np.float32(c_cfg.groove_depth * twins_cfg.groove_depth)
        image *= 1.0 - depth * _render.groove_profile(twin_core, fwhm)[crop]
    image = _render.add_gradient(rng, image, c_cfg.gradient, 0.5 * max(m, n))
    image = _render.add_scratches(rng, image, c_cfg.scratches, c_cfg.scratch_contrast)
    image = _render.blur(image, c_cfg.blur_sigma_px)
    image = _render.add_noise(rng, image, c_cfg.photons, c_cfg.gaussian_noise)
    image = _render.quantize(image, c_cfg.dtype)

    # 5. the EBSD companion.
    ebsd = drift = None
    if d_cfg.enabled and shift is not None:
        nonrigid = nonrigid_field(rng, canvas, d_cfg.max_nonrigid_px, d_cfg.spacing_px)
        drift_canvas = nonrigid + np.array(shift, dtype=np.float32)[:, None, None]
        drift = np.ascontiguousarray(drift_canvas[:, crop[0], crop[1]])
        source = _ebsd_sources(drift_canvas, nonrigid, shift, pad, (m, n))
        e_cells = cells.ravel()[source]
        e_twin = twin_mask.ravel()[source]
        e_gb = _render.dilate(_render.core_lines(e_cells), width)
        e_boundary = e_gb
        if twins_cfg.in_boundary:
            e_boundary = e_gb | _render.dilate(_render.core_lines(e_twin, same=e_cells), width)
        sr, sc = np.divmod(source, canvas[1])
        sr, sc = sr - pad, sc - pad
        in_frame = (sr >= 0) & (sr < m) & (sc >= 0) & (sc < n)
        sem_index = np.clip(sr, 0, m - 1) * n + np.clip(sc, 0, n - 1)
        e_labels = np.where(in_frame, labels.ravel()[sem_index], 0)
        ebsd = EBSDCompanion(
            boundary=e_boundary,
            labels=e_labels.astype(np.int32),
            euler=orientations.astype(np.float32)[orient.ravel()[source]],
            in_sem_frame=in_frame,
        )

    table = grain_table(labels, pixel_size_um=config.pixel_size_um)
    return Microstructure(
        image=image,
        boundary=boundary,
        labels=labels,
        twins=twins,
        twin_boundary=twin_boundary,
        euler=euler,
        ebsd=ebsd,
        drift=drift,
        shift=shift,
        grain_table=table,
        pixel_size_um=config.pixel_size_um,
        config=config,
        seed=seed,
    )
