"""Local drift: tile-wise phase correlation, outlier rejection, smooth dense field.

Works on displacement fields ``D`` (2, M, N) in the package convention:
``moving[p + D(p)] ~= fixed[p]``. Each pass measures the residual shift of every
tile after warping ``moving`` with the current field, rejects unreliable tiles (weak
peak, little content, disagreement with their neighbours), fits a thin-plate spline
through the rest and composes the smooth residual into the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree

from grainseg_core._registration_phase import hann2d, phase_correlate_batch
from grainseg_core._registration_repr import downsample

__all__ = [
    "TileMeasurement",
    "tile_starts",
    "measure_tiles",
    "median_test",
    "coarse_flow",
    "local_ncc",
    "gate_residual",
    "dense_from_tiles",
    "choose_smoothing",
    "remap",
    "compose",
    "identity_grid",
]

#: The thin-plate spline is evaluated on a grid this many times finer than the tile
#: size (at least every 8 px) and upsampled bicubically: the field cannot vary faster
#: than the tiles that measured it, and evaluating it at every pixel would dominate
#: the run time.
_SPLINE_PER_TILE = 8


@dataclass(frozen=True)
class TileMeasurement:
    """Per-tile shifts of one pass, on the (gr, gc) tile grid.

    ``shift`` is (gr, gc, 2) in pixels; ``centre`` (gr, gc, 2) the tile centres;
    ``psr`` the peak-to-sidelobe ratio; ``isotropy`` the peak's curvature ratio;
    ``content`` the mean blurred-label value of the
    tile; ``coverage`` the fraction of the tile where the warped label exists;
    ``accepted`` the tiles kept after every test.
    """

    shift: np.ndarray
    centre: np.ndarray
    psr: np.ndarray
    isotropy: np.ndarray
    content: np.ndarray
    coverage: np.ndarray
    accepted: np.ndarray
    tile: int
    factor: int


def tile_starts(length: int, tile: int, stride: int) -> np.ndarray:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` evenly."""
    if length <= tile:
        return np.array([0])
    count = int(np.ceil((length - tile) / stride)) + 1
    return np.round(np.linspace(0, length - tile, count)).astype(int)


def identity_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinate arrays, float32 (M, N)."""
    rows = np.arange(shape[0], dtype=np.float32)[:, None]
    cols = np.arange(shape[1], dtype=np.float32)[None, :]
    return np.broadcast_to(rows, shape), np.broadcast_to(cols, shape)


def remap(
    image: np.ndarray,
    displacement: np.ndarray,
    *,
    border: int = cv2.BORDER_CONSTANT,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Sample ``image`` at ``p + displacement(p)`` for every pixel ``p`` of the field.

    The output has the field's shape (M, N); outside ``image`` it is 0 (or the
    replicated edge with ``border=cv2.BORDER_REPLICATE``).
    """
    rows, cols = identity_grid(displacement.shape[1:])
    map_r = (rows + displacement[0]).astype(np.float32)
    map_c = (cols + displacement[1]).astype(np.float32)
    return cv2.remap(image, map_c, map_r, interpolation, borderMode=border, borderValue=0)


def compose(field: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """Field of ``p -> T(p + u(p))`` where ``T(p) = p + field(p)`` and ``u = residual``.

    If ``moving`` warped by ``field`` still needs ``residual`` to match ``fixed``,
    ``moving[p + compose(field, residual)(p)] ~= fixed[p]``.
    """
    both = np.ascontiguousarray(np.moveaxis(field, 0, -1), dtype=np.float32)  # (M, N, 2)
    moved = remap(both, residual, border=cv2.BORDER_REPLICATE)
    return residual + np.moveaxis(moved, -1, 0)


def measure_tiles(
    fixed: np.ndarray,
    moving: np.ndarray,
    coverage: np.ndarray,
    *,
    tile: int,
    factor: int,
    overlap: float,
    whitening: float,
    spectral_sigma: float,
    min_psr: float,
    min_content: float,
    min_coverage: float,
    min_isotropy: float,
) -> TileMeasurement:
    """Phase-correlate every tile of ``fixed`` with the same tile of ``moving``.

    ``tile`` is in full-resolution pixels; the correlation runs on the images
    area-downsampled by ``factor`` (large tiles need no full resolution to find a
    shift, and cost ``factor**2`` less), and shifts and centres come back in
    full-resolution pixels.
    """
    if factor > 1:
        fixed, moving, coverage = (downsample(x, factor) for x in (fixed, moving, coverage))
    rows, cols = fixed.shape
    work = max(8, int(round(tile / factor)))
    tile_r, tile_c = min(work, rows), min(work, cols)
    stride_r = max(1, int(round(tile_r * (1.0 - overlap))))
    stride_c = max(1, int(round(tile_c * (1.0 - overlap))))
    starts_r = tile_starts(rows, tile_r, stride_r)
    starts_c = tile_starts(cols, tile_c, stride_c)
    gr, gc = len(starts_r), len(starts_c)

    def stack(arr: np.ndarray) -> np.ndarray:
        view = sliding_window_view(arr, (tile_r, tile_c))
        return view[starts_r[:, None], starts_c[None, :]].reshape(gr * gc, tile_r, tile_c)

    a, b, cov = stack(fixed), stack(moving), stack(coverage)
    res = phase_correlate_batch(
        a,
        b,
        window=hann2d(tile_r, tile_c),
        whitening=whitening,
        spectral_sigma=spectral_sigma,
        exclude_radius=max(3, int(round(3 * spectral_sigma))),
    )
    shift = res.shift.reshape(gr, gc, 2)
    psr = res.psr.reshape(gr, gc)
    isotropy = res.isotropy.reshape(gr, gc)
    content = np.minimum(a.mean(axis=(1, 2)), b.mean(axis=(1, 2))).reshape(gr, gc)
    cover = cov.mean(axis=(1, 2)).reshape(gr, gc)
    # A shift beyond a third of the tile leaves too little common content to trust.
    small = (np.abs(shift[..., 0]) < tile_r / 3) & (np.abs(shift[..., 1]) < tile_c / 3)
    accepted = (psr >= min_psr) & (content >= min_content) & (cover >= min_coverage) & small
    accepted &= isotropy >= min_isotropy
    accepted &= median_test(shift, accepted)
    centre = np.stack(
        np.meshgrid(starts_r + (tile_r - 1) / 2.0, starts_c + (tile_c - 1) / 2.0, indexing="ij"),
        axis=-1,
    )
    # Back to full resolution: x_full = (x_small + 0.5) * factor - 0.5.
    centre = (centre + 0.5) * factor - 0.5
    return TileMeasurement(
        shift=shift * factor,
        centre=centre,
        psr=psr,
        isotropy=isotropy,
        content=content,
        coverage=cover,
        accepted=accepted,
        tile=int(tile),
        factor=int(factor),
    )


def coarse_flow(
    fixed: np.ndarray,
    moving: np.ndarray,
    *,
    factor: int,
    window_px: float,
    affine_tolerance_px: float = 1.0,
) -> np.ndarray:
    """Dense residual field (2, M, N) from Farneback optical flow on downsampled images.

    Farneback's polynomial expansion on an image pyramid follows a smooth field of
    tens of pixels that varies too fast for large tiles to measure (the case of a
    strong non-rigid drift), at a cost of milliseconds. Its output is noisy at the
    pixel scale, so it is smoothed over ``window_px`` and only used as the starting
    point of the tile passes, which validate and refine it. When an affine function
    of position explains the flow to within ``affine_tolerance_px`` (RMS), only that
    affine function is returned.

    ``moving[p + field(p)] ~= fixed[p]`` (Farneback's ``prev`` is ``fixed``).
    """
    rows, cols = fixed.shape
    factor = max(1, int(factor))
    a = downsample(fixed, factor)
    b = downsample(moving, factor)

    def to_u8(x: np.ndarray) -> np.ndarray:
        top = float(x.max())
        return np.zeros(x.shape, np.uint8) if top <= 0 else (x * (255.0 / top)).astype(np.uint8)

    win = max(5, int(round(window_px / factor)) | 1)
    flow = cv2.calcOpticalFlowFarneback(
        to_u8(a),
        to_u8(b),
        None,
        pyr_scale=0.5,
        levels=4,
        winsize=win,
        iterations=5,
        poly_n=7,
        poly_sigma=1.5,
        flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
    )
    # Confidence of the flow: isotropy of the structure tensor of ``fixed`` over the
    # window. Where all lines run one way the flow along them is undetermined (the
    # aperture problem) and Farneback invents it; normalised convolution replaces it
    # there by the flow of better-conditioned surroundings.
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3)
    sig = win / 2.0
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sig)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sig)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), sig)
    half_tr = 0.5 * (jxx + jyy)
    root = np.sqrt(0.25 * (jxx - jyy) ** 2 + jxy**2)
    conf = ((half_tr - root) / np.maximum(half_tr + root, 1e-12)).astype(np.float32)
    norm = cv2.GaussianBlur(conf, (0, 0), sig) + np.float32(1e-6)
    smooth = np.stack(
        [cv2.GaussianBlur(flow[..., ch] * conf, (0, 0), sig) / norm for ch in (1, 0)]
    )  # OpenCV gives (dx, dy) = (d_col, d_row)
    # A flow an affine function explains to within a pixel found nothing non-rigid:
    # keep its affine part, not its pixel-scale noise.
    # (fitted on every 4th sample: the smoothed flow varies on the window scale)
    fr, fc = np.mgrid[0 : a.shape[0] : 4, 0 : a.shape[1] : 4].astype(np.float64)
    design = np.column_stack([np.ones(fr.size), fr.ravel() / a.shape[0], fc.ravel() / a.shape[1]])
    values = smooth[:, ::4, ::4].reshape(2, -1).T.astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    resid = values - design @ coef
    if float(np.sqrt((resid**2).sum(axis=1).mean())) * factor < affine_tolerance_px:
        rr = np.arange(a.shape[0], dtype=np.float32)[:, None] / a.shape[0]
        cc = np.arange(a.shape[1], dtype=np.float32)[None, :] / a.shape[1]
        smooth = np.stack([coef[0, k] + coef[1, k] * rr + coef[2, k] * cc for k in range(2)])
        smooth = smooth.astype(np.float32)
    out = np.empty((2, rows, cols), np.float32)
    for k in range(2):
        # Resize to the covered full-resolution size, then pad the cropped remainder.
        up = (
            cv2.resize(
                smooth[k],
                (a.shape[1] * factor, a.shape[0] * factor),
                interpolation=cv2.INTER_LINEAR,
            )
            * factor
        )
        out[k] = np.pad(up, ((0, rows - up.shape[0]), (0, cols - up.shape[1])), mode="edge")
    return out


def local_ncc(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-windowed normalised cross-correlation of two images, (M, N) in [-1, 1]."""

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)

    a = a.astype(np.float32, copy=False)
    b = b.astype(np.float32, copy=False)
    ma, mb = blur(a), blur(b)
    va = np.maximum(blur(a * a) - ma * ma, 0.0)
    vb = np.maximum(blur(b * b) - mb * mb, 0.0)
    cov = blur(a * b) - ma * mb
    return cov / np.sqrt(va * vb + 1e-12)


def gate_residual(
    fixed: np.ndarray,
    moving_before: np.ndarray,
    moving_after: np.ndarray,
    residual: np.ndarray,
    *,
    sigma: float,
) -> np.ndarray:
    """Keep a residual field only where it raised the local correlation with ``fixed``.

    A dense flow can be right in most of the image and lost (tens of pixels off) in a
    few places; the global correlation barely notices those, the local one does. The
    keep-mask is smoothed over ``sigma`` so the gated field stays smooth.
    """
    # A window of tens of pixels needs no full resolution: work on a grid ~8 samples
    # per sigma (a full-size blur with sigma 64 costs seconds on a 3-megapixel frame).
    g = max(1, int(sigma // 8))
    a, b0, b1 = (downsample(x, g) for x in (fixed, moving_before, moving_after))
    s = sigma / g
    better = (local_ncc(a, b1, s) >= local_ncc(a, b0, s)).astype(np.float32)
    keep = cv2.GaussianBlur(better, (0, 0), sigmaX=s)
    rows, cols = residual.shape[1:]
    up = cv2.resize(keep, (keep.shape[1] * g, keep.shape[0] * g), interpolation=cv2.INTER_LINEAR)
    up = np.pad(up, ((0, rows - up.shape[0]), (0, cols - up.shape[1])), mode="edge")
    return residual * up[None]


def median_test(
    shift: np.ndarray, accepted: np.ndarray, *, threshold: float = 2.0, eps: float = 0.3
) -> np.ndarray:
    """Normalised median test of Westerweel & Scarano (2005) on a tile grid.

    A vector is kept when, for both components, its distance to the median of its
    accepted 8-neighbours is at most ``threshold`` times (the neighbours' median
    residual + ``eps``). Vectors with fewer than two accepted neighbours are kept as
    they are (nothing to compare with).
    """
    gr, gc = accepted.shape
    keep = accepted.copy()
    padded = np.full((gr + 2, gc + 2, 2), np.nan)
    padded[1:-1, 1:-1] = np.where(accepted[..., None], shift, np.nan)
    neigh = np.stack(
        [
            padded[1 + dr : 1 + dr + gr, 1 + dc : 1 + dc + gc]
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if (dr, dc) != (0, 0)
        ],
        axis=0,
    )  # (8, gr, gc, 2)
    count = np.isfinite(neigh[..., 0]).sum(axis=0)
    enough = count >= 2
    if not enough.any():
        return keep
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods
            med = np.nanmedian(neigh, axis=0)
            resid = np.nanmedian(np.abs(neigh - med[None]), axis=0)
    norm = np.abs(shift - med) / (resid + eps)
    norm = np.where(np.isfinite(norm), norm, 0.0)
    bad = enough & (norm.max(axis=-1) > threshold)
    keep &= ~bad
    return keep


#: Thin-plate-spline smoothing weights tried by cross-validation, per tile (the weight
#: passed to RBFInterpolator is this times the number of tiles; coordinates are in
#: image units). From nearly interpolating to nearly affine.
_SMOOTHING_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
_FOLDS = 5
_CV_SLACK = 1.05


def _affine_fit(pts: np.ndarray, vals: np.ndarray):
    design = np.column_stack([np.ones(len(pts)), pts])
    coef, *_ = np.linalg.lstsq(design, vals, rcond=None)
    return lambda q: np.column_stack([np.ones(len(q)), q]) @ coef


def _spline_fit(pts: np.ndarray, vals: np.ndarray, weight: float):
    return RBFInterpolator(
        pts, vals, kernel="thin_plate_spline", smoothing=weight * len(pts), degree=1
    )


def choose_smoothing(pts: np.ndarray, vals: np.ndarray) -> float | None:
    """Spline smoothing weight chosen by k-fold cross-validation (None = affine).

    Each candidate (an affine fit, and thin-plate splines from rough to smooth)
    predicts held-out tile shifts from the others; the smoothest candidate whose
    error is within 5% of the best wins. On a field that needs no local correction
    the tile shifts are pure noise and the affine fit wins, so noise is not
    interpolated into the field; on a real drift field a spline wins with the
    smoothing that the noise level calls for.
    """
    n = len(pts)
    folds = np.random.default_rng(0).permutation(n) % _FOLDS
    candidates: list[float | None] = [None, *sorted(_SMOOTHING_GRID, reverse=True)]
    errors = []
    for weight in candidates:
        err = 0.0
        for k in range(_FOLDS):
            train, test = folds != k, folds == k
            if weight is None:
                fit = _affine_fit(pts[train], vals[train])
            else:
                fit = _spline_fit(pts[train], vals[train], weight)
            err += float(((fit(pts[test]) - vals[test]) ** 2).sum())
        errors.append(err / n)
    best = min(errors)
    for weight, err in zip(candidates, errors, strict=True):  # smoothest first
        if err <= _CV_SLACK * best + 1e-9:
            return weight
    return candidates[int(np.argmin(errors))]


def _damp_far_field(
    fitted: np.ndarray, grid: np.ndarray, pts: np.ndarray, vals: np.ndarray, *, reach: float
) -> np.ndarray:
    """Replace a fit's extrapolation far from any accepted tile by a bounded one.

    Affine and thin-plate fits extrapolate linearly: a slope of 1% among the accepted
    tiles becomes pixels of error 200 px away, in a region where every tile was
    rejected (no boundaries, aperture problem, outside the map). Beyond ``reach`` of
    the nearest accepted tile centre the fit fades, over another ``reach``, into an
    inverse-distance-weighted mean of the nearest tile shifts, which stays within the
    range of the measurements.
    """
    tree = cKDTree(pts)
    k = min(8, len(pts))
    dist, idx = tree.query(grid, k=k)
    dist = dist.reshape(len(grid), k)
    idx = idx.reshape(len(grid), k)
    near = dist[:, 0]
    if near.max() <= reach:
        return fitted
    w_idw = 1.0 / np.maximum(dist, 1e-6) ** 2
    idw = (w_idw[..., None] * vals[idx]).sum(axis=1) / w_idw.sum(axis=1)[:, None]
    keep = np.clip(2.0 - near / reach, 0.0, 1.0)[:, None]
    return keep * fitted + (1.0 - keep) * idw


def dense_from_tiles(
    measures: TileMeasurement,
    shape: tuple[int, int],
    *,
    smoothing: float | None,
) -> tuple[np.ndarray, str]:
    """Smooth dense field (2, M, N) float32 through the accepted tile shifts.

    A thin-plate spline (``scipy.interpolate.RBFInterpolator``, affine part
    included) fills rejected tiles and smooths measurement noise, or an affine fit
    when that predicts the tiles as well (see :func:`choose_smoothing`, used when
    ``smoothing`` is None). The fit is evaluated every few pixels and upsampled
    bicubically, exact to well under a pixel for a field this smooth.

    Returns
    -------
    field : ndarray (2, M, N) float32
    model : str
        ``"none"``, ``"mean"``, ``"affine"`` or ``"spline(w)"`` with the weight used.
    """
    acc = measures.accepted
    rows, cols = shape
    unit = float(max(rows, cols))  # image units: smoothing weights independent of size
    pts = measures.centre[acc] / unit
    vals = measures.shift[acc]
    step = max(8, measures.tile // _SPLINE_PER_TILE)
    gr = -(-rows // step)
    gc = -(-cols // step)
    # Pixel centres of a grid that cv2.resize by `step` maps exactly onto the full grid.
    rr = (np.arange(gr) + 0.5) * step - 0.5
    cc = (np.arange(gc) + 0.5) * step - 0.5
    grid = np.stack(np.meshgrid(rr, cc, indexing="ij"), axis=-1).reshape(-1, 2) / unit
    if len(pts) == 0:
        return np.zeros((2, rows, cols), np.float32), "none"
    if len(pts) < 4:
        coarse = np.broadcast_to(vals.mean(axis=0), (gr, gc, 2))
        model = "mean"
    else:
        weight = smoothing
        if weight is None:
            weight = choose_smoothing(pts, vals) if len(pts) >= 2 * _FOLDS else None
        if weight is None:
            fitted = _affine_fit(pts, vals)(grid)
            model = "affine"
        else:
            fitted = _spline_fit(pts, vals, weight)(grid)
            model = f"spline({weight:g})"
        coarse = _damp_far_field(fitted, grid, pts, vals, reach=measures.tile / unit)
        coarse = coarse.reshape(gr, gc, 2)
    out = np.empty((2, rows, cols), np.float32)
    for k in range(2):
        up = cv2.resize(
            np.ascontiguousarray(coarse[..., k], dtype=np.float32),
            (gc * step, gr * step),
            interpolation=cv2.INTER_CUBIC,
        )
        out[k] = up[:rows, :cols]
    return out, model
