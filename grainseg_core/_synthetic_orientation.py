"""Crystal orientations for synthetic grains: Bunge Euler angles, Sigma-3 twins, channelling.

Private helper of :mod:`grainseg_core.synthetic`. Orientation matrices ``g`` map
sample coordinates to crystal coordinates (``v_crystal = g @ v_sample``), Bunge
convention (ZXZ, radians, phi1 and phi2 in [0, 2 pi), Phi in [0, pi]).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "random_euler",
    "euler_to_matrix",
    "matrix_to_euler",
    "twin_euler",
    "channelling_intensity",
]

_TWO_PI = 2.0 * math.pi


def random_euler(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return (n, 3) Bunge angles of orientations uniform on SO(3) (cos Phi uniform)."""
    u = rng.random((n, 3))
    return np.stack([_TWO_PI * u[:, 0], np.arccos(1.0 - 2.0 * u[:, 1]), _TWO_PI * u[:, 2]], axis=1)


def euler_to_matrix(euler: np.ndarray) -> np.ndarray:
    """Bunge angles (k, 3) -> orientation matrices (k, 3, 3), sample -> crystal."""
    p1, pp, p2 = np.moveaxis(np.asarray(euler, dtype=np.float64), -1, 0)
    c1, s1, c, s, c2, s2 = np.cos(p1), np.sin(p1), np.cos(pp), np.sin(pp), np.cos(p2), np.sin(p2)
    g = np.empty(p1.shape + (3, 3))
    g[..., 0, 0] = c1 * c2 - s1 * s2 * c
    g[..., 0, 1] = s1 * c2 + c1 * s2 * c
    g[..., 0, 2] = s2 * s
    g[..., 1, 0] = -c1 * s2 - s1 * c2 * c
    g[..., 1, 1] = -s1 * s2 + c1 * c2 * c
    g[..., 1, 2] = c2 * s
    g[..., 2, 0] = s1 * s
    g[..., 2, 1] = -c1 * s
    g[..., 2, 2] = c
    return g


def matrix_to_euler(g: np.ndarray) -> np.ndarray:
    """Orientation matrices (k, 3, 3) -> Bunge angles (k, 3), with Phi = 0 handled."""
    g = np.asarray(g, dtype=np.float64)
    big_phi = np.arccos(np.clip(g[..., 2, 2], -1.0, 1.0))
    degenerate = np.abs(np.sin(big_phi)) < 1e-9
    phi1 = np.arctan2(g[..., 2, 0], -g[..., 2, 1])
    phi2 = np.arctan2(g[..., 0, 2], g[..., 1, 2])
    # Phi ~ 0 (or pi): only phi1 + phi2 is defined; put it all in phi1.
    phi1 = np.where(degenerate, np.arctan2(g[..., 0, 1], g[..., 0, 0]), phi1)
    phi2 = np.where(degenerate, 0.0, phi2)
    return np.stack([np.mod(phi1, _TWO_PI), big_phi, np.mod(phi2, _TWO_PI)], axis=-1)


def _axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis / np.linalg.norm(axis)
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array(
        [
            [t * x * x + c, t * x * y - s * z, t * x * z + s * y],
            [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
            [t * x * z - s * y, t * y * z + s * x, t * z * z + c],
        ]
    )


# The four Sigma-3 operators of a cubic crystal: 60 degrees about each <111>.
_SIGMA3 = np.stack(
    [
        _axis_angle_matrix(np.array(a, dtype=np.float64), math.pi / 3.0)
        for a in ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1))
    ]
)


def twin_euler(euler: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """Return the Sigma-3 twin (60 deg about a <111> of the crystal) of each orientation.

    Parameters
    ----------
    euler : ndarray (k, 3)
        Parent orientations.
    variant : ndarray (k,) of int in 0..3
        Which <111> axis.
    """
    g = euler_to_matrix(euler)
    return matrix_to_euler(np.einsum("kij,kjl->kil", _SIGMA3[np.asarray(variant)], g))


# Beam directions in the sample frame: along the normal, and tilted 20 degrees about x
# (the tilt lets the in-plane angle phi1 change the contrast too, as a tilted stage does).
_BEAMS = (
    np.array([0.0, 0.0, 1.0]),
    np.array([0.0, math.sin(math.radians(20.0)), math.cos(math.radians(20.0))]),
)


def channelling_intensity(euler: np.ndarray) -> np.ndarray:
    """Return a smooth orientation contrast in [0, 1] for cubic crystals, shape (k,).

    The beam direction expressed in crystal axes, ``h``, enters through the cubic
    invariant ``sum(h**4)`` (1 along <100>, 1/2 along <110>, 1/3 along <111>),
    rescaled to [0, 1]: near-<100> grains channel (bright), near-<111> grains are
    dark, as in electron channelling contrast. Three quarters from the normal beam,
    one quarter from a beam tilted 20 degrees.
    """
    g = euler_to_matrix(euler)
    out = np.zeros(g.shape[:-2])
    for weight, beam in zip((0.75, 0.25), _BEAMS, strict=True):
        h = g @ beam
        out += weight * 1.5 * ((h**4).sum(-1) - 1.0 / 3.0)
    return np.clip(out, 0.0, 1.0)
