"""Quaternion kernels for EBSD misorientations (private).

Conventions follow orix: a unit quaternion ``(a, b, c, d)`` (scalar first) per
orientation ``g``; crystal symmetry acts on the left (``S * g``); the
misorientation from ``g1`` to ``g2`` is ``m = g2 * conj(g1)``, and its
disorientation angle is ``min_S angle(S * m)`` over the phase's proper point
group (checked against ``orix.quaternion.Orientation.angle_with`` in the tests).
All functions are vectorised over leading axes.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "quat_multiply",
    "quat_conjugate",
    "rotation_operators",
    "disorientation_angle_deg",
    "sigma3_operators",
    "sigma3_deviation_deg",
]

#: Rows processed at once by the operator products (bounds memory at ~100 MB).
_CHUNK = 1 << 18


def quat_multiply(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p * q`` of quaternion arrays (..., 4)."""
    p0, p1, p2, p3 = np.moveaxis(p, -1, 0)
    q0, q1, q2, q3 = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            p0 * q0 - p1 * q1 - p2 * q2 - p3 * q3,
            p0 * q1 + p1 * q0 + p2 * q3 - p3 * q2,
            p0 * q2 - p1 * q3 + p2 * q0 + p3 * q1,
            p0 * q3 + p1 * q2 - p2 * q1 + p3 * q0,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse of a unit quaternion) of an array (..., 4)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


@functools.lru_cache(maxsize=32)
def rotation_operators(point_group: str) -> np.ndarray:
    """Quaternions (K, 4) of the proper rotations of an orix point group, read-only."""
    from orix.crystal_map import Phase  # lazy: orix import is slow

    ops = np.array(Phase(point_group=point_group).point_group.proper_subgroup.data, dtype=np.float64)
    ops.setflags(write=False)
    return ops


def _unique_up_to_sign(q: np.ndarray, decimals: int = 9) -> np.ndarray:
    # q and -q are the same rotation: put each in the hemisphere a >= 0
    # (ties broken by the first non-zero component) before rounding to dedupe.
    q = q.copy()
    lead = np.argmax(np.abs(q) > 1e-9, axis=1)
    sign = np.sign(q[np.arange(len(q)), lead])
    q *= sign[:, None]
    _, idx = np.unique(np.round(q, decimals), axis=0, return_index=True)
    return q[np.sort(idx)]


def _max_abs_scalar(m: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Max over operators S of |scalar(S^-1 * m)| = |dot(S, m)| for m (E, 4)."""
    out = np.empty(len(m), dtype=np.float64)
    ops_t = np.ascontiguousarray(ops.T)
    for start in range(0, len(m), _CHUNK):
        block = m[start : start + _CHUNK] @ ops_t
        np.abs(block, out=block)
        out[start : start + _CHUNK] = block.max(axis=1)
    return out


def _angle_from_scalar(w: np.ndarray) -> np.ndarray:
    return np.degrees(2.0 * np.arccos(np.clip(w, 0.0, 1.0)))


def disorientation_angle_deg(m: np.ndarray, point_group: str) -> np.ndarray:
    """Disorientation angles (E,) in degrees of misorientations ``m`` (E, 4).

    Because the angle is invariant under conjugation, the two-sided reduction
    ``S_i m S_j`` of a same-phase misorientation equals the one-sided
    ``min_S angle(S m)``; this is one (E, 4) @ (4, K) product.
    """
    return _angle_from_scalar(_max_abs_scalar(m, rotation_operators(point_group)))


@functools.lru_cache(maxsize=32)
def sigma3_operators(point_group: str) -> np.ndarray:
    """The double coset ``G t^-1 G`` (unique up to sign) of the ideal Sigma-3.

    ``t`` is the rotation of 60 degrees about [111]. The deviation of a
    misorientation ``m`` from Sigma-3 is ``min_{i,j} angle(t^-1 S_i m S_j)``,
    which by conjugation equals ``min_u angle(u m)`` over ``u`` in this set
    (96 elements for 432).
    """
    ops = rotation_operators(point_group)
    half = math.radians(60.0) / 2.0
    t_inv = np.array([math.cos(half), *(-math.sin(half) / math.sqrt(3.0),) * 3])
    left = quat_multiply(ops[:, None, :], t_inv[None, None, :])  # S_j t^-1
    coset = quat_multiply(left[:, :, None, :], ops[None, None, :, :])  # S_j t^-1 S_i
    out = _unique_up_to_sign(coset.reshape(-1, 4))
    out.setflags(write=False)
    return out


def sigma3_deviation_deg(m: np.ndarray, point_group: str) -> np.ndarray:
    """Angular deviation (E,) in degrees of misorientations ``m`` (E, 4) from Sigma-3."""
    return _angle_from_scalar(_max_abs_scalar(m, sigma3_operators(point_group)))
