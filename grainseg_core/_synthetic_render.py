"""Image formation for synthetic micrographs: grooves, gradient, scratches, blur, noise.

Private helper of :mod:`grainseg_core.synthetic`. All steps work on float32
intensity maps in [0, 1]; OpenCV does the filtering (fast and deterministic),
``rng`` is the only source of randomness.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "smooth_field",
    "core_lines",
    "dilate",
    "groove_profile",
    "add_gradient",
    "add_scratches",
    "blur",
    "add_noise",
    "quantize",
]


def smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], spacing_px: float, channels: int = 1
) -> np.ndarray:
    """Return a smooth random field (channels, M, N) float32 with max |value| = 1.

    Standard normal values on a control grid of exactly ``spacing_px`` pixels
    (extending past the image, so the spacing holds for any image size),
    interpolated bicubically (OpenCV ``warpAffine``), then scaled to a peak of 1.
    """
    m, n = shape
    gm = int(math.ceil((m - 1) / spacing_px)) + 4
    gn = int(math.ceil((n - 1) / spacing_px)) + 4
    coarse = rng.standard_normal((channels, gm, gn)).astype(np.float32)
    # Output pixel (r, c) samples the control grid at (1.5 + r / spacing, 1.5 + c / spacing).
    inverse = np.array([[1.0 / spacing_px, 0.0, 1.5], [0.0, 1.0 / spacing_px, 1.5]])
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    out = np.empty((channels, m, n), dtype=np.float32)
    for k in range(channels):  # at most a few channels
        out[k] = cv2.warpAffine(
            coarse[k], inverse, (n, m), flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
    peak = float(np.abs(out).max())
    if peak > 0:
        out /= peak
    return out


def core_lines(ids: np.ndarray, same: np.ndarray | None = None) -> np.ndarray:
    """Mark pixels whose right or lower neighbour has another id (1-px, 4-tight lines).

    No two unmarked 4-neighbours then carry different ids, so the 4-connected
    components of unmarked pixels never mix two ids. With ``same`` (another id
    map), only changes between pixels of equal ``same`` are marked.
    """
    core = np.zeros(ids.shape, dtype=bool)
    right = ids[:, :-1] != ids[:, 1:]
    down = ids[:-1, :] != ids[1:, :]
    if same is not None:
        right &= same[:, :-1] == same[:, 1:]
        down &= same[:-1, :] == same[1:, :]
    core[:, :-1] |= right
    core[:-1, :] |= down
    return core


def dilate(mask: np.ndarray, width_px: int) -> np.ndarray:
    """Dilate a 1-px line mask to ``width_px`` with a square footprint (1 = unchanged)."""
    if width_px <= 1:
        return mask.copy()
    kernel = np.ones((width_px, width_px), dtype=np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def groove_profile(core: np.ndarray, fwhm_px: np.ndarray) -> np.ndarray:
    """Return the groove darkening in [0, 1]: a Gaussian of the distance to ``core``.

    ``fwhm_px`` (M, N) float32 is the local full width at half depth.
    """
    dist = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, 5)
    sigma = fwhm_px / np.float32(2.0 * math.sqrt(2.0 * math.log(2.0)))
    return np.exp(-0.5 * (dist / sigma) ** 2)


def add_gradient(
    rng: np.random.Generator, image: np.ndarray, amplitude: float, spacing_px: float
) -> np.ndarray:
    """Multiply by ``1 + amplitude * (ramp + bumps) / 1.5``: uneven illumination / charging."""
    if amplitude <= 0:
        return image
    m, n = image.shape
    angle = rng.uniform(0.0, 2.0 * math.pi)
    rr, cc = np.ogrid[:m, :n]
    half = 0.5 * math.hypot(m, n)
    ramp = ((rr - m / 2.0) * math.sin(angle) + (cc - n / 2.0) * math.cos(angle)) / half
    bumps = 0.5 * smooth_field(rng, (m, n), spacing_px)[0]
    return image * (1.0 + np.float32(amplitude / 1.5) * (ramp.astype(np.float32) + bumps))


def add_scratches(
    rng: np.random.Generator, image: np.ndarray, mean_count: float, contrast: float
) -> np.ndarray:
    """Add polishing scratches: straight anti-aliased 1-2 px lines at random angles."""
    count = int(rng.poisson(mean_count)) if mean_count > 0 else 0
    if count == 0 or contrast <= 0:
        return image
    m, n = image.shape
    layers = np.zeros((2, m, n), dtype=np.uint8)  # dark, bright
    diag = math.hypot(m, n)
    params = rng.random((count, 6))
    shift = 4  # sub-pixel endpoints: coordinates in 1/16 px
    for p in params:  # a handful of lines, drawn by OpenCV
        centre = np.array([p[0] * n, p[1] * m])
        angle = p[2] * math.pi
        half = 0.5 * diag * (0.3 + 0.7 * p[3])
        d = half * np.array([math.cos(angle), math.sin(angle)])
        a = np.round((centre - d) * (1 << shift)).astype(int)
        b = np.round((centre + d) * (1 << shift)).astype(int)
        value = int(128 + 127 * p[4])
        cv2.line(
            layers[int(p[5] < 0.3)],
            (int(a[0]), int(a[1])),
            (int(b[0]), int(b[1])),
            value,
            thickness=1,
            lineType=cv2.LINE_AA,
            shift=shift,
        )
    scale = np.float32(contrast / 255.0)
    return image + scale * (layers[1].astype(np.float32) - layers[0].astype(np.float32))


def blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur (the probe size); ``sigma_px`` 0 = none."""
    if sigma_px <= 0:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma_px, borderType=cv2.BORDER_REFLECT)


def add_noise(
    rng: np.random.Generator, image: np.ndarray, photons: float, gaussian_sigma: float
) -> np.ndarray:
    """Shot noise (``photons`` counts at grey level 1) plus Gaussian detector noise.

    Shot noise is drawn exactly (Poisson) when ``photons`` < 50; above that a
    Poisson count is indistinguishable from a normal one of the same mean and
    variance, which is drawn instead (ten times faster): the pixel gets a normal
    deviate of variance ``I / photons + gaussian_sigma**2``.
    """
    out = np.clip(image, 0.0, None)
    if 0 < photons < 50:
        out = (rng.poisson(out * np.float32(photons)) / np.float32(photons)).astype(np.float32)
        variance = np.float32(gaussian_sigma**2)
    else:
        shot = out / np.float32(photons) if photons > 0 else np.float32(0.0)
        variance = shot + np.float32(gaussian_sigma**2)
    if np.any(variance > 0):
        out = out + np.sqrt(variance) * rng.standard_normal(out.shape, dtype=np.float32)
    return out


def quantize(image: np.ndarray, dtype: str) -> np.ndarray:
    """Clip to [0, 1] and round to ``uint8`` or ``uint16``."""
    top = 255.0 if dtype == "uint8" else 65535.0
    return np.rint(np.clip(image, 0.0, 1.0) * np.float32(top)).astype(dtype)
