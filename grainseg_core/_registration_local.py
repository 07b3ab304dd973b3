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

from grainseg_core._registration_phase import hann2d, phase_correlate_batch
from grainseg_core._registration_repr import downsample

__all__ = [
    "TileMeasurement",
    "tile_starts",
    "measure_tiles",
    "median_test",
    "dense_from_tiles",
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
    ``psr`` the peak-to-sidelobe ratio; ``content`` the mean blurred-label value of the
    tile; ``coverage`` the fraction of the tile where the warped label exists;
    ``accepted`` the tiles kept after every test.
    """

    shift: np.ndarray
    centre: np.ndarray
    psr: np.ndarray
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


def remap(image: np.ndarray, displacement: np.ndarray, *, border: int = cv2.BORDER_CONSTANT,
          interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
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
    content = np.minimum(a.mean(axis=(1, 2)), b.mean(axis=(1, 2))).reshape(gr, gc)
    cover = cov.mean(axis=(1, 2)).reshape(gr, gc)
    # A shift beyond a third of the tile leaves too little common content to trust.
    small = (np.abs(shift[..., 0]) < tile_r / 3) & (np.abs(shift[..., 1]) < tile_c / 3)
    accepted = (psr >= min_psr) & (content >= min_content) & (cover >= min_coverage) & small
    accepted &= median_test(shift, accepted)
    centre = np.stack(
        np.meshgrid(starts_r + (tile_r - 1) / 2.0, starts_c + (tile_c - 1) / 2.0, indexing="ij"),
        axis=-1,
    )
    # Back to full resolution: x_full = (x_small + 0.5) * factor - 0.5.
    centre = (centre + 0.5) * factor - 0.5
    return TileMeasurement(
        shift=shift * factor, centre=centre, psr=psr, content=content, coverage=cover,
        accepted=accepted, tile=int(tile), factor=int(factor),
    )


def median_test(shift: np.ndarray, accepted: np.ndarray, *, threshold: float = 2.0,
                eps: float = 0.3) -> np.ndarray:
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
        [padded[1 + dr : 1 + dr + gr, 1 + dc : 1 + dc + gc]
         for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)],
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


def dense_from_tiles(
    measures: TileMeasurement,
    shape: tuple[int, int],
    *,
    smoothing: float,
) -> np.ndarray:
    """Smooth dense field (2, M, N) float32 through the accepted tile shifts.

    A thin-plate spline (``scipy.interpolate.RBFInterpolator``) fills rejected tiles
    and smooths measurement noise; it is evaluated every few pixels and upsampled
    bicubically, which is exact to well under a pixel for a field this smooth.
    """
    acc = measures.accepted
    pts = measures.centre[acc]
    vals = measures.shift[acc]
    rows, cols = shape
    step = max(8, measures.tile // _SPLINE_PER_TILE)
    gr = -(-rows // step)
    gc = -(-cols // step)
    # Pixel centres of a grid that cv2.resize by `step` maps exactly onto the full grid.
    rr = (np.arange(gr) + 0.5) * step - 0.5
    cc = (np.arange(gc) + 0.5) * step - 0.5
    if len(pts) == 0:
        return np.zeros((2, rows, cols), np.float32)
    if len(pts) < 3:
        coarse = np.broadcast_to(vals.mean(axis=0), (gr, gc, 2))
    else:
        # Scale coordinates so the smoothing weight does not depend on image size.
        unit = float(max(rows, cols))
        spline = RBFInterpolator(pts / unit, vals, kernel="thin_plate_spline",
                                 smoothing=smoothing * len(pts) * 1e-4, degree=1)
        grid = np.stack(np.meshgrid(rr, cc, indexing="ij"), axis=-1).reshape(-1, 2)
        coarse = spline(grid / unit).reshape(gr, gc, 2)
    out = np.empty((2, rows, cols), np.float32)
    for k in range(2):
        up = cv2.resize(np.ascontiguousarray(coarse[..., k], dtype=np.float32),
                        (gc * step, gr * step), interpolation=cv2.INTER_CUBIC)
        out[k] = up[:rows, :cols]
    return out
