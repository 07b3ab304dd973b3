"""Global SEM-EBSD alignment: phase correlation, then an ECC refinement on a pyramid.

Matrices here are 3x3 in homogeneous (row, col, 1) coordinates and map an SEM pixel to
the EBSD canvas pixel that belongs there: ``canvas[H @ (r, c, 1)] ~= sem[r, c]`` (the
drift-field convention of the package). OpenCV works in (x, y) = (col, row); the
conversion happens only in this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from grainseg_core._registration_phase import hann2d, phase_correlate_batch
from grainseg_core._registration_repr import downsample

__all__ = [
    "MOTIONS",
    "PhaseEstimate",
    "EccEstimate",
    "estimate_shift",
    "refine_ecc",
    "apply_matrix",
]

#: ECC motion models by name.
MOTIONS = {
    "translation": cv2.MOTION_TRANSLATION,
    "euclidean": cv2.MOTION_EUCLIDEAN,
    "affine": cv2.MOTION_AFFINE,
    "homography": cv2.MOTION_HOMOGRAPHY,
}

_SWAP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class PhaseEstimate:
    """Result of the global phase correlation (full-resolution SEM pixels)."""

    shift: tuple[float, float]
    psr: float
    factor: int


@dataclass(frozen=True)
class EccEstimate:
    """Result of the ECC refinement."""

    matrix: np.ndarray  # (3, 3) row/col homogeneous, full resolution
    ecc: float  # correlation coefficient reached (nan if ECC failed)
    converged: bool
    message: str


def estimate_shift(
    sem_repr: np.ndarray,
    label_repr: np.ndarray,
    *,
    max_side: int,
    whitening: float,
    spectral_sigma: float,
) -> PhaseEstimate:
    """Translation between the two representations by padded phase correlation.

    Both are area-downsampled so that their longer side is at most ``max_side``,
    apodised with a Hann window and zero-padded to twice their size (so a shift of
    more than half the image is not confused with its circular alias).
    """
    factor = max(1, math.ceil(max(sem_repr.shape) / max_side))
    a = downsample(sem_repr, factor)
    b = downsample(label_repr, factor)
    rows, cols = a.shape
    res = phase_correlate_batch(
        a,
        b,
        window=hann2d(rows, cols),
        whitening=whitening,
        pad_to=(2 * rows, 2 * cols),
        spectral_sigma=spectral_sigma,
        exclude_radius=max(5, int(round(3 * spectral_sigma))),
    )
    # INTER_AREA by f maps pixel centres as x_small = (x + 0.5) / f - 0.5, so a shift
    # scales exactly by f.
    shift = (float(res.shift[0, 0]) * factor, float(res.shift[0, 1]) * factor)
    return PhaseEstimate(shift=shift, psr=float(res.psr[0]), factor=factor)


def _scale_matrix(matrix: np.ndarray, factor: float) -> np.ndarray:
    """Express a pixel-coordinate transform at a grid ``factor`` times finer.

    Pixel centres of a grid downsampled by ``f`` sit at ``x_c = (x_f + 0.5)/f - 0.5``.
    """
    s = np.diag([factor, factor, 1.0])
    s[0, 2] = s[1, 2] = 0.5 * factor - 0.5  # x_f = f * x_c + (f - 1) / 2
    return s @ matrix @ np.linalg.inv(s)


def refine_ecc(
    sem_repr: np.ndarray,
    label_repr: np.ndarray,
    label_valid: np.ndarray,
    initial: np.ndarray,
    *,
    motion: str,
    coarse_factor: int,
    max_side: int,
    iterations: int,
    epsilon: float,
    gauss_size: int,
) -> EccEstimate:
    """Refine ``initial`` (3x3, full resolution) with OpenCV's ECC, coarse to fine.

    The pyramid starts at ``coarse_factor`` (the phase-correlation scale) and halves
    the factor down to the finest level whose longer side is at most ``max_side``.
    A level where ECC fails to converge keeps the previous estimate and the failure
    is reported in ``message``; it never raises.
    """
    finest = max(1, math.ceil(max(sem_repr.shape) / max_side))
    factors = []
    f = max(coarse_factor, finest)
    while True:
        factors.append(f)
        if f <= finest:
            break
        f = max(finest, f // 2)
    homography = motion == "homography"
    current = initial.copy()
    ecc = float("nan")
    messages = []
    converged = True
    for f in factors:
        a = downsample(sem_repr, f)
        b = downsample(label_repr, f)
        mask = (downsample(label_valid, f) > 0.5).astype(np.uint8)
        level = _scale_matrix(current, 1.0 / f)
        warp = _SWAP @ level @ _SWAP  # (row, col) -> (x, y)
        warp = warp.astype(np.float32) if homography else warp[:2].astype(np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, epsilon)
        try:
            ecc, warp = cv2.findTransformECC(
                a, b, warp, MOTIONS[motion], criteria, mask, gauss_size
            )
        except cv2.error as exc:
            converged = False
            text = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no detail"
            messages.append(f"ECC did not converge at 1/{f} scale ({text})")
            continue
        full = np.eye(3)
        full[: warp.shape[0]] = warp
        current = _scale_matrix(_SWAP @ full @ _SWAP, float(f))
    return EccEstimate(
        matrix=current, ecc=float(ecc), converged=converged, message="; ".join(messages)
    )


def apply_matrix(
    matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map (row, col) coordinates through a 3x3 homogeneous matrix.

    ``rows`` and ``cols`` broadcast against each other (e.g. (M, 1) and (1, N)).
    """
    r = matrix[0, 0] * rows + matrix[0, 1] * cols + matrix[0, 2]
    c = matrix[1, 0] * rows + matrix[1, 1] * cols + matrix[1, 2]
    if not (matrix[2, 0] == 0 and matrix[2, 1] == 0 and matrix[2, 2] == 1):
        w = matrix[2, 0] * rows + matrix[2, 1] * cols + matrix[2, 2]
        return r / w, c / w
    return r, c
