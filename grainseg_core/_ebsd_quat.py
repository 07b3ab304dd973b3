"""Quaternion kernels for EBSD misorientations (private).

Conventions follow orix: a unit quaternion ``(a, b, c, d)`` (scalar first) per
orientation ``g``; crystal symmetry acts on the left (``S * g``); the
misorientation from ``g1`` to ``g2`` is ``m = g2 * conj(g1)``, and its
disorientation angle is ``min_S angle(S * m)`` over the phase's proper point
group (checked against ``orix.quaternion.Orientation.angle_with`` in the tests).
``quat_multiply``/``quat_conjugate`` work on (..., 4) arrays; the edge kernels
take components first, (4, ...), so each product is a plain 2-D array operation.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "disorientation_angle_deg",
    "misorientation_components",
    "quat_conjugate",
    "quat_multiply",
    "rotation_operators",
    "sigma3_deviation_deg",
    "sigma3_operators",
]

#: Rows processed at once by the operator products (small enough to stay in cache).
_CHUNK = 1 << 12
_SQRT_HALF = math.sqrt(0.5)


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


def misorientation_components(ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """``m = gb * conj(ga)`` with components first: inputs and output (4, ...).

    Component planes keep every product a contiguous (or simply strided) 2-D
    operation, several times faster than working along a last axis of length 4.
    """
    a0, a1, a2, a3 = ga[0], -ga[1], -ga[2], -ga[3]
    b0, b1, b2, b3 = gb
    return np.stack(
        [
            b0 * a0 - b1 * a1 - b2 * a2 - b3 * a3,
            b0 * a1 + b1 * a0 + b2 * a3 - b3 * a2,
            b0 * a2 - b1 * a3 + b2 * a0 + b3 * a1,
            b0 * a3 + b1 * a2 - b2 * a1 + b3 * a0,
        ]
    )


@functools.lru_cache(maxsize=32)
def rotation_operators(point_group: str) -> np.ndarray:
    """Quaternions (K, 4) of the proper rotations of an orix point group, read-only."""
    from orix.crystal_map import Phase  # lazy: orix import is slow

    ops = np.array(
        Phase(point_group=point_group).point_group.proper_subgroup.data, dtype=np.float64
    )
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


def _max_abs_scalar(m4: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Max over operators S of |scalar(S^-1 * m)| = |dot(S, m)| for m4 (4, E)."""
    out = np.empty(m4.shape[1], dtype=np.float64)
    for start in range(0, m4.shape[1], _CHUNK):
        block = ops @ m4[:, start : start + _CHUNK]  # (K, chunk)
        np.abs(block, out=block)
        block.max(axis=0, out=out[start : start + _CHUNK])
    return out


def _max_abs_scalar_432(m4: np.ndarray) -> np.ndarray:
    """Closed form of :func:`_max_abs_scalar` for the 24 rotations of 432.

    Their scalar products with m are |m_i| (4 values), |m_i +- m_j| / sqrt(2)
    (12) and |m0 +- m1 +- m2 +- m3| / 2 (8); with a >= b the two largest |m_i|
    the maximum is max(a, (a + b) / sqrt(2), (|m0| + |m1| + |m2| + |m3|) / 2).
    """
    x0, x1, x2, x3 = (np.abs(c) for c in m4)
    hi1, lo1 = np.maximum(x0, x1), np.minimum(x0, x1)
    hi2, lo2 = np.maximum(x2, x3), np.minimum(x2, x3)
    a = np.maximum(hi1, hi2)
    b = np.maximum(np.minimum(hi1, hi2), np.maximum(lo1, lo2))
    total = x0 + x1 + x2 + x3
    return np.maximum(np.maximum(a, (a + b) * _SQRT_HALF), 0.5 * total)


def _angle_from_scalar(w: np.ndarray) -> np.ndarray:
    return np.degrees(2.0 * np.arccos(np.clip(w, 0.0, 1.0)))


def disorientation_angle_deg(m4: np.ndarray, point_group: str) -> np.ndarray:
    """Disorientation angles (E,) in degrees of misorientations ``m4`` (4, E).

    Because the angle is invariant under conjugation, the two-sided reduction
    ``S_i m S_j`` of a same-phase misorientation equals the one-sided
    ``min_S angle(S m)``: one (K, 4) @ (4, E) product, or a closed form for 432.
    """
    if point_group == "432":
        return _angle_from_scalar(_max_abs_scalar_432(m4))
    return _angle_from_scalar(_max_abs_scalar(m4, rotation_operators(point_group)))


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


def sigma3_deviation_deg(m4: np.ndarray, point_group: str) -> np.ndarray:
    """Angular deviation (E,) in degrees of misorientations ``m4`` (4, E) from Sigma-3."""
    return _angle_from_scalar(_max_abs_scalar(m4, sigma3_operators(point_group)))
