"""Batched phase correlation with sub-pixel peaks and a peak-to-sidelobe confidence.

One function serves both the global step (one padded image pair) and the local step
(hundreds of tiles at once): the tiles are stacked into one (K, T, T) array and go
through a single batched FFT, so there is no Python loop over tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

__all__ = ["PhaseResult", "phase_correlate_batch", "hann2d"]

_EPS = 1e-12


@dataclass(frozen=True)
class PhaseResult:
    """Shifts and confidences of a batch of phase correlations.

    Attributes
    ----------
    shift : ndarray (K, 2) float64
        ``(d_row, d_col)`` such that ``moving[p + shift] ~= fixed[p]``.
    psr : ndarray (K,) float64
        Peak-to-sidelobe ratio: (peak - mean) / std of the correlation surface outside
        a window around the peak. Around 3-5 for noise, tens for a true match.
    peak : ndarray (K,) float64
        Height of the normalised correlation peak.
    isotropy : ndarray (K,) float64
        Ratio of the smaller to the larger curvature of the peak, in [0, 1]: near 0
        for a ridge-shaped peak (content with one line direction only, whose shift
        along the lines is undetermined: the aperture problem).
    """

    shift: np.ndarray
    psr: np.ndarray
    peak: np.ndarray
    isotropy: np.ndarray


def hann2d(rows: int, cols: int) -> np.ndarray:
    """Separable 2-D Hann window, float32 (rows, cols)."""
    return np.outer(np.hanning(rows), np.hanning(cols)).astype(np.float32)


def _peak_offset(left: np.ndarray, mid: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sub-pixel vertex of a peak from three samples, in [-0.5, 0.5].

    A Gaussian through the three samples (a parabola through their logarithms) fits a
    smoothed correlation peak with far less bias than a parabola through the values;
    where a sample is not positive the parabola is used instead.
    """
    positive = (left > 0) & (mid > 0) & (right > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.log(np.where(positive, left, 1.0))
        lm = np.log(np.where(positive, mid, 1.0))
        lr = np.log(np.where(positive, right, 1.0))
        l_ = np.where(positive, ll, left)
        m_ = np.where(positive, lm, mid)
        r_ = np.where(positive, lr, right)
        denom = l_ - 2.0 * m_ + r_
        off = 0.5 * (l_ - r_) / denom
    off = np.where(np.abs(denom) > _EPS, off, 0.0)
    return np.clip(off, -0.5, 0.5)


def phase_correlate_batch(
    fixed: np.ndarray,
    moving: np.ndarray,
    *,
    window: np.ndarray | None = None,
    whitening: float = 0.8,
    pad_to: tuple[int, int] | None = None,
    spectral_sigma: float = 0.0,
    exclude_radius: int = 5,
) -> PhaseResult:
    """Phase-correlate stacks of equally sized image pairs.

    Parameters
    ----------
    fixed, moving : ndarray (K, T, U) or (T, U)
        Pairs to compare (the SEM representation is ``fixed``).
    window : ndarray (T, U), optional
        Apodisation applied after removing each image's mean.
    whitening : float
        Exponent ``p`` of the spectrum normalisation ``X / |X|**p``: 1 is pure phase
        correlation (sharp peak, noise-sensitive), 0 is plain cross-correlation.
    pad_to : (int, int), optional
        Zero-pad every image to this size first, so shifts up to the image size can be
        told apart from their circular aliases.
    spectral_sigma : float
        Standard deviation, in pixels, of a Gaussian that smooths the correlation
        surface (applied as a product in Fourier space); a smooth peak gives a
        better sub-pixel parabola. 0 disables it.
    exclude_radius : int
        Half-size of the window around the peak left out of the sidelobe statistics.

    Returns
    -------
    PhaseResult
        Shifts ``(d_row, d_col)`` with ``moving[p + shift] ~= fixed[p]``.
    """
    single = fixed.ndim == 2
    a = np.asarray(fixed, np.float32)
    b = np.asarray(moving, np.float32)
    if single:
        a, b = a[None], b[None]
    a = a - a.mean(axis=(1, 2), keepdims=True)
    b = b - b.mean(axis=(1, 2), keepdims=True)
    if window is not None:
        a = a * window
        b = b * window
    rows, cols = pad_to if pad_to is not None else a.shape[1:]
    fa = sfft.rfft2(a, s=(rows, cols), axes=(1, 2))
    fb = sfft.rfft2(b, s=(rows, cols), axes=(1, 2))
    cross = fb * np.conj(fa)  # peak at +d when moving(x) = fixed(x - d)
    if whitening > 0:
        mag = np.abs(cross)
        scale = mag.mean(axis=(1, 2), keepdims=True) * 1e-3 + _EPS
        cross = cross / (mag + scale) ** whitening
    if spectral_sigma > 0:
        fr = sfft.fftfreq(rows)[:, None]
        fc = sfft.rfftfreq(cols)[None, :]
        gauss = np.exp(-2.0 * (np.pi * spectral_sigma) ** 2 * (fr**2 + fc**2))
        cross = cross * gauss.astype(np.float32)
    surf = sfft.irfft2(cross, s=(rows, cols), axes=(1, 2))
    k = surf.shape[0]
    flat = surf.reshape(k, -1)
    idx = np.argmax(flat, axis=1)
    pr, pc = np.unravel_index(idx, (rows, cols))
    kk = np.arange(k)
    peak = flat[kk, idx]
    # Sub-pixel refinement: separable parabola through the peak and its wrapped neighbours.
    off_r = _peak_offset(surf[kk, (pr - 1) % rows, pc], peak, surf[kk, (pr + 1) % rows, pc])
    off_c = _peak_offset(surf[kk, pr, (pc - 1) % cols], peak, surf[kk, pr, (pc + 1) % cols])
    # Curvature of the peak: eigenvalues of minus the 3x3 finite-difference Hessian.
    up, down = (pr - 1) % rows, (pr + 1) % rows
    left, right = (pc - 1) % cols, (pc + 1) % cols
    h_rr = surf[kk, up, pc] + surf[kk, down, pc] - 2.0 * peak
    h_cc = surf[kk, pr, left] + surf[kk, pr, right] - 2.0 * peak
    h_rc = 0.25 * (
        surf[kk, down, right] - surf[kk, down, left] - surf[kk, up, right] + surf[kk, up, left]
    )
    half_tr = -0.5 * (h_rr + h_cc)
    root = np.sqrt(0.25 * (h_rr - h_cc) ** 2 + h_rc**2)
    big, small = half_tr + root, half_tr - root
    isotropy = np.clip(np.where(big > _EPS, small / np.maximum(big, _EPS), 0.0), 0.0, 1.0)
    sr = np.where(pr > rows // 2, pr - rows, pr) + off_r
    sc = np.where(pc > cols // 2, pc - cols, pc) + off_c
    # Sidelobe statistics outside a (2r+1)^2 window around the peak: totals of the
    # whole surface minus those of the gathered window (no masked copy of the surface).
    rad = int(exclude_radius)
    dr = (pr[:, None] + np.arange(-rad, rad + 1)[None, :]) % rows
    dc = (pc[:, None] + np.arange(-rad, rad + 1)[None, :]) % cols
    win = surf[kk[:, None, None], dr[:, :, None], dc[:, None, :]].reshape(k, -1).astype(np.float64)
    total = flat.sum(axis=1, dtype=np.float64) - win.sum(axis=1)
    total_sq = np.einsum("ij,ij->i", flat, flat, dtype=np.float64) - (win * win).sum(axis=1)
    n_side = flat.shape[1] - win.shape[1]
    mean = total / n_side
    std = np.sqrt(np.maximum(total_sq / n_side - mean * mean, 0.0))
    psr = (peak - mean) / np.maximum(std, _EPS)
    shift = np.column_stack([sr, sc]).astype(np.float64)
    return PhaseResult(
        shift=shift,
        psr=psr.astype(np.float64),
        peak=peak.astype(np.float64),
        isotropy=isotropy.astype(np.float64),
    )
