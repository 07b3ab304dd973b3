"""Comparable representations of an SEM image and a grain-boundary map for registration.

An SEM micrograph and an EBSD-derived boundary map look nothing alike pixel by pixel:
one has grain contrast, noise and shading, the other is a binary line drawing. Both
are turned into the same kind of picture, "bright thin lines on black", before they are
correlated: a Hessian ridge response of the SEM image (grooves are thin dark valleys)
and a Gaussian-blurred copy of the boundary map.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "POLARITIES",
    "AUTO_POLARITIES",
    "downsample",
    "normalize_unit",
    "ridge_response",
    "ridge_responses",
    "blurred_boundary",
    "sem_boundary_skeleton",
]

#: Ridge polarities: which sign of line the SEM image shows at its boundaries.
POLARITIES = ("dark", "bright", "both", "gradient")
#: The candidates ``polarity="auto"`` tries (the best-correlating one wins).
AUTO_POLARITIES = ("dark", "bright", "gradient")


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average ``image`` by an integer factor (OpenCV INTER_AREA).

    The trailing rows and columns that do not fill a whole block are dropped.
    """
    if factor <= 1:
        return image
    # Crop to a multiple of the factor so pixel centres map exactly:
    # x_small = (x + 0.5) / factor - 0.5.
    rows = max(1, image.shape[0] // factor)
    cols = max(1, image.shape[1] // factor)
    crop = image[: rows * factor, : cols * factor]
    return cv2.resize(crop, (cols, rows), interpolation=cv2.INTER_AREA)


def normalize_unit(image: np.ndarray) -> np.ndarray:
    """Scale an image to float32 [0, 1] between its 0.5th and 99.5th percentiles.

    Percentiles rather than min/max keep one hot pixel or a saturated fiducial from
    flattening the contrast of everything else.
    """
    arr = image.astype(np.float32, copy=False)
    step = max(1, int(np.sqrt(arr.size / 250_000)))  # strided sample: see ridge_responses
    lo, hi = np.percentile(arr[::step, ::step], (0.5, 99.5))
    if hi <= lo:
        lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, np.float32)
    return np.clip((arr - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _hessian_eigen(smooth: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Both eigenvalues of the scale-normalised Hessian of an image smoothed at ``sigma``."""
    # Central differences on the smoothed image: the Gaussian already did the smoothing
    # a Sobel kernel would add (ksize=3 Sobel = 4x the central difference of a
    # [1, 2, 1]-smoothed image), and these keep the response centred on the line.
    dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3, borderType=cv2.BORDER_REFLECT) * 0.25
    dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3, borderType=cv2.BORDER_REFLECT) * 0.25
    dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3, borderType=cv2.BORDER_REFLECT) * 0.25
    half_trace = 0.5 * (dxx + dyy)
    root = np.sqrt((0.5 * (dxx - dyy)) ** 2 + dxy**2)
    norm = np.float32(sigma * sigma)  # scale normalisation (Lindeberg)
    return (half_trace + root) * norm, (half_trace - root) * norm


def ridge_responses(
    image: np.ndarray,
    *,
    sigmas: tuple[float, ...] = (2.0,),
    polarities: tuple[str, ...] = ("dark",),
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Line-likeness of every pixel of an SEM image, one map per polarity.

    Parameters
    ----------
    image : ndarray (M, N)
        The SEM image, any numeric dtype.
    sigmas : tuple of float
        Gaussian scales in pixels; each response is the maximum over them.
    polarities : tuple of {"dark", "bright", "both", "gradient"}
        ``"dark"``: boundaries are dark grooves (etched or channelled); ``"bright"``:
        bright lines (SE edge effect); ``"both"``: either; ``"gradient"``: boundaries
        are steps between grains of different contrast (Gaussian gradient magnitude).
        The polarities share one smoothing and one Hessian per scale.

    Returns
    -------
    responses : dict of str to ndarray (M, N) float32
        Each response scaled so its 99.5th percentile is 1 (clipped to [0, 1]); all
        zero for an image with no structure.
    strengths : dict of str to float
        The 99.5th percentile of each raw (scale-normalised) response, on the image
        scaled to [0, 1]: comparable between polarities.
    """
    img = normalize_unit(image)
    strengths: dict[str, float] = {}
    out = {p: np.zeros(img.shape, np.float32) for p in polarities}
    need_hessian = any(p != "gradient" for p in polarities)
    for sigma in sigmas:
        smooth = cv2.GaussianBlur(
            img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
        )
        if need_hessian:
            big, small = _hessian_eigen(smooth, sigma)
            valley = np.maximum(big, 0.0)  # dark line: strong positive curvature across it
            ridge = np.maximum(-small, 0.0)  # bright line
        for p in polarities:
            if p == "gradient":
                gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
                gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
                resp = cv2.magnitude(gx, gy) * np.float32(sigma / 8.0)
            elif p == "dark":
                resp = valley
            elif p == "bright":
                resp = ridge
            else:
                resp = np.maximum(valley, ridge)
            np.maximum(out[p], resp, out=out[p])
    for p, resp in out.items():
        # The percentile of a strided sample: same value to a fraction of a percent,
        # a fraction of the cost on a 3-megapixel image.
        step = max(1, int(np.sqrt(resp.size / 250_000)))
        top = float(np.percentile(resp[::step, ::step], 99.5))
        strengths[p] = top if np.isfinite(top) else 0.0
        if not np.isfinite(top) or top <= 1e-6:
            out[p] = np.zeros(img.shape, np.float32)
        else:
            out[p] = np.clip(resp * np.float32(1.0 / top), 0.0, 1.0)
    return out, strengths


def ridge_response(
    image: np.ndarray, *, sigmas: tuple[float, ...] = (2.0,), polarity: str = "dark"
) -> np.ndarray:
    """Line-likeness of an SEM image for one polarity, float32 (M, N) in [0, 1].

    See :func:`ridge_responses`.
    """
    return ridge_responses(image, sigmas=sigmas, polarities=(polarity,))[0][polarity]


def blurred_boundary(boundary: np.ndarray, *, sigma: float) -> np.ndarray:
    """A boundary mask blurred to the width of an SEM ridge response, float32 in [0, 1]."""
    arr = boundary.astype(np.float32)
    if sigma > 0:
        arr = cv2.GaussianBlur(
            arr, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_CONSTANT
        )
    top = float(arr.max())
    return arr / top if top > 0 else arr


def sem_boundary_skeleton(response: np.ndarray, fraction: float) -> np.ndarray:
    """One-pixel-wide boundary lines detected in a ridge response, bool (M, N).

    The strongest ``fraction`` of pixels are kept and thinned to a skeleton: a
    threshold-free detector whose density follows the label's own boundary density.
    """
    from skimage.morphology import skeletonize

    fraction = float(np.clip(fraction, 1e-4, 0.5))
    thresh = np.quantile(response, 1.0 - fraction)
    mask = response > max(float(thresh), 1e-6)
    return skeletonize(mask)
