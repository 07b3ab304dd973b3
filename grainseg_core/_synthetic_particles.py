"""Synthetic particles on a matrix, with instance labels and polygon annotations.

Private helper of :mod:`grainseg_core.synthetic` (import the public names from
there). Seed 001 (martensite-austenite islands annotated as polygons in the
Aachen-Heerlen CSV) and seed 003 (carbide particles in UHCS) in miniature: a
textured matrix with separated, irregular elliptical particles whose exact pixel
sets are known.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from grainseg_core import _synthetic_render as _render
from grainseg_core._synthetic_args import check_option, check_seed, check_shape
from grainseg_core._synthetic_tessellation import pack_circles
from grainseg_core._validation import check_int
from grainseg_core.errors import GrainsegWarning, InputError
from grainseg_core.io import ImageAnnotations, mask_to_polygons, polygons_to_mask, write_polygon_csv

__all__ = ["ParticleConfig", "Particles", "make_particles", "write_particles_csv"]

_N_VERTICES = 48  # outline samples per particle before rasterisation
_HARMONICS = (2, 3, 5)  # low harmonics make the outlines irregular, like real islands


@dataclass(frozen=True)
class ParticleConfig:
    """Options of :func:`make_particles`.

    Attributes
    ----------
    mean_radius_px : float
        Mean of the log-normal equivalent radius, in pixels (1..500).
    radius_sigma : float
        Standard deviation of ln(radius) (0..1.5).
    max_aspect : float
        Each particle's axis ratio is uniform in [1, max_aspect] (1..10).
    roughness : float
        Relative amplitude of the outline's low-harmonic wobble (0..0.3).
    min_gap_px : float
        Smallest matrix gap between two particles' bounding circles (>= 1.5, so that
        no two particle pixels are neighbours, even diagonally): each particle is one
        separate instance.
    matrix_level, particle_level : float
        Grey levels (0..1); particles brighter than the matrix (MA islands in SEM,
        seed 001) by default; swap them for dark particles.
    texture : float
        Amplitude of the matrix's smooth texture (0..1).
    blur_sigma_px : float
        Gaussian blur sigma (0 = none).
    noise : float
        Standard deviation of Gaussian noise (grey levels 0..1).
    """

    mean_radius_px: float = 8.0
    radius_sigma: float = 0.35
    max_aspect: float = 2.0
    roughness: float = 0.08
    min_gap_px: float = 2.0
    matrix_level: float = 0.35
    particle_level: float = 0.75
    texture: float = 0.08
    blur_sigma_px: float = 0.8
    noise: float = 0.04

    def __post_init__(self) -> None:
        check_option("ParticleConfig.mean_radius_px", self.mean_radius_px, 1.0, 500.0)
        check_option("ParticleConfig.radius_sigma", self.radius_sigma, 0.0, 1.5)
        check_option("ParticleConfig.max_aspect", self.max_aspect, 1.0, 10.0)
        check_option("ParticleConfig.roughness", self.roughness, 0.0, 0.3)
        check_option("ParticleConfig.min_gap_px", self.min_gap_px, 1.5, 1000.0)
        check_option("ParticleConfig.matrix_level", self.matrix_level, 0.0, 1.0)
        check_option("ParticleConfig.particle_level", self.particle_level, 0.0, 1.0)
        check_option("ParticleConfig.texture", self.texture, 0.0, 1.0)
        check_option("ParticleConfig.blur_sigma_px", self.blur_sigma_px, 0.0, 20.0)
        check_option("ParticleConfig.noise", self.noise, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Particles:
    """A synthetic particle micrograph and its exact answers.

    Attributes
    ----------
    image : uint8 (M, N)
    labels : int32 (M, N)
        0 = matrix, 1..k = particles (each one 4-connected region, none touching another).
    annotations : ImageAnnotations
        One polygon per particle along its pixel edges (``instance_id`` = label):
        ``polygons_to_mask(annotations, shape, mode="instance")`` gives ``labels`` back.
    n_particles : int
        Particles placed (fewer than asked when they did not fit; a warning says so).
    config : ParticleConfig
    seed : int
    """

    image: np.ndarray
    labels: np.ndarray
    annotations: ImageAnnotations
    n_particles: int
    config: ParticleConfig
    seed: int


@dataclass(frozen=True)
class _Shapes:
    """Per-particle shape parameters, drawn before packing (largest first)."""

    radii: np.ndarray
    aspect: np.ndarray
    angle: np.ndarray
    phases: np.ndarray
    amps: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, k: int, cfg: ParticleConfig) -> _Shapes:
        mu = math.log(cfg.mean_radius_px) - 0.5 * cfg.radius_sigma**2
        return cls(
            radii=np.sort(rng.lognormal(mu, cfg.radius_sigma, k))[::-1],
            aspect=rng.uniform(1.0, cfg.max_aspect, k),
            angle=rng.uniform(0.0, math.pi, k),
            phases=rng.uniform(0.0, 2.0 * math.pi, (k, len(_HARMONICS))),
            amps=rng.uniform(0.0, cfg.roughness, (k, len(_HARMONICS))),
        )

    def reach(self) -> np.ndarray:
        """Radius of a circle that holds each outline: semi-major axis times the largest wobble."""
        return self.radii * np.sqrt(self.aspect) * (1.0 + self.amps.sum(axis=1))

    def outlines(self, centres_rc: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Return (k, V, 2) outline vertices (x, y) of the kept particles, vectorised."""
        t = np.linspace(0.0, 2.0 * math.pi, _N_VERTICES, endpoint=False)
        amps, phases = self.amps[keep], self.phases[keep]
        wobble = 1.0 + sum(
            amps[:, i, None] * np.cos(h * t[None, :] + phases[:, i, None])
            for i, h in enumerate(_HARMONICS)
        )
        a = (self.radii * np.sqrt(self.aspect))[keep]
        b = (self.radii / np.sqrt(self.aspect))[keep]
        u = a[:, None] * np.cos(t) * wobble
        v = b[:, None] * np.sin(t) * wobble
        ca, sa = np.cos(self.angle[keep])[:, None], np.sin(self.angle[keep])[:, None]
        x = centres_rc[keep, 1, None] + u * ca - v * sa
        y = centres_rc[keep, 0, None] - u * sa - v * ca  # rows run downwards: angle as displayed
        return np.stack([x, y], axis=-1)


def make_particles(
    shape: tuple[int, int],
    *,
    seed: int,
    n_particles: int,
    config: ParticleConfig | None = None,
    image_name: str | None = None,
) -> Particles:
    """Draw separated particles on a textured matrix, with labels and polygons.

    Parameters
    ----------
    shape : (M, N)
        Image size (each side >= 16).
    seed : int
        Seed of ``numpy.random.default_rng`` (same seed, same bytes).
    n_particles : int
        Particles to place (>= 0); they are packed without touching, so fewer
        fit when the image is crowded.
    config : ParticleConfig, optional
    image_name : str, optional
        Name used in the annotations; default ``IMG_<seed>.png`` (Aachen style).

    Returns
    -------
    Particles
        ``image`` uint8 (M, N), instance ``labels`` int32 (M, N), ``annotations``.

    Raises
    ------
    InputError
        Bad shape, seed, particle count or config type.

    Warns
    -----
    GrainsegWarning
        When fewer than ``n_particles`` fit.

    Examples
    --------
    >>> p = make_particles((96, 128), seed=1, n_particles=12)
    >>> p.image.shape, p.labels.max() == p.n_particles == len(p.annotations)
    ((96, 128), True)
    """
    m, n = check_shape(shape)
    seed = check_seed(seed)
    n_particles = check_int(n_particles, "n_particles", low=0)
    cfg = ParticleConfig() if config is None else config
    if not isinstance(cfg, ParticleConfig):
        raise InputError(f"config must be a ParticleConfig; got {type(cfg).__name__}.")
    name = image_name if image_name is not None else f"IMG_{seed:05d}.png"
    if not isinstance(name, str) or not name or os.sep in name or "/" in name:
        raise InputError(
            f"image_name must be a plain file name such as 'IMG_00001.png'; got {name!r}."
        )
    rng = np.random.default_rng(seed)

    shapes = _Shapes.draw(rng, int(n_particles), cfg)
    reach = shapes.reach() + 0.5 * cfg.min_gap_px
    lo, hi = np.zeros(2), np.array([m, n], dtype=np.float64)
    points, pending = pack_circles(
        rng, reach, lo, hi, np.eye(2), overlap_tolerance=1.0, max_rounds=60
    )
    placed = np.setdiff1d(np.arange(int(n_particles)), pending)
    if pending.size:
        warnings.warn(
            f"placed {placed.size} of {n_particles} particles: the image is too crowded; "
            "ask for fewer or smaller particles.",
            GrainsegWarning,
            stacklevel=2,
        )
    outlines = shapes.outlines(points, placed)
    filled = np.zeros((m, n), dtype=np.int32)
    if placed.size:
        with warnings.catch_warnings():
            # Particles cut by the frame are meant to be: no "vertices outside" warning.
            warnings.simplefilter("ignore", GrainsegWarning)
            filled = polygons_to_mask(list(outlines), (m, n), mode="instance")
    # Renumber 1..k in order of size (largest first); a particle cut down to nothing by
    # the frame is dropped.
    present = np.flatnonzero(np.bincount(filled.ravel(), minlength=placed.size + 1)[1:]) + 1
    lut = np.zeros(placed.size + 1, dtype=np.int32)
    lut[present] = np.arange(1, present.size + 1, dtype=np.int32)
    labels = lut[filled]

    # Image: textured matrix, particles with a slightly varying level, soft edges, noise.
    level = np.full(present.size + 1, cfg.matrix_level, dtype=np.float32)
    level[1:] = cfg.particle_level + rng.uniform(-0.05, 0.05, present.size).astype(np.float32)
    image = level[labels]
    image += (
        np.float32(cfg.texture) * _render.smooth_field(rng, (m, n), 4.0 * cfg.mean_radius_px)[0]
    )
    image = _render.blur(image, cfg.blur_sigma_px)
    image = _render.add_noise(rng, image, 0.0, cfg.noise)
    image = _render.quantize(image, "uint8")

    polygons = mask_to_polygons(labels, tolerance=0.25) if present.size else []
    annotations = ImageAnnotations(name, tuple(polygons), height=m, width=n)
    return Particles(
        image=image,
        labels=labels,
        annotations=annotations,
        n_particles=int(present.size),
        config=cfg,
        seed=seed,
    )


def write_particles_csv(
    particles: Particles | Iterable[Particles], destination: str | os.PathLike | None = None
) -> str:
    """Write particle polygons as an Aachen-Heerlen CSV (``image_url;point;polygon``).

    Parameters
    ----------
    particles : Particles or iterable of Particles
        One image or several (each under its ``annotations.image_name``).
    destination : path, optional
        Where to write; the CSV text is returned either way.

    Returns
    -------
    str
        The CSV text (:func:`grainseg_core.io.write_polygon_csv`).

    Examples
    --------
    >>> p = make_particles((64, 64), seed=2, n_particles=3)
    >>> write_particles_csv(p).splitlines()[0]
    'image_url;point;polygon'
    """
    items = [particles] if isinstance(particles, Particles) else list(particles)
    for item in items:
        if not isinstance(item, Particles):
            raise InputError(f"particles must be Particles objects; got {type(item).__name__}.")
    return write_polygon_csv([p.annotations for p in items], destination)
