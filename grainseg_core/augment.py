"""Paired augmentations for training patches: the same geometry on image and label.

Every function takes an image and its label and returns both transformed alike. Images are
resampled bilinearly; labels are only ever *sampled* (nearest neighbour), never blended, so
a binary label stays binary. Two label kinds are told apart:

``"boundary"`` (thin grain-boundary lines)
    Plain nearest-neighbour sampling breaks 1-px lines under a free rotation or a zoom
    (diagonal steps fall between sample points, so grains merge). A boundary label is
    therefore sampled at four sub-pixel points of each output pixel (offsets of +-1/4 px)
    and a pixel is boundary when any sample hits a boundary pixel. Lines stay connected;
    a 1-px line becomes about 2 px wide under a free rotation ("thin-ish"). Flips and
    90-degree rotations are exact and do not widen anything.
``"mask"`` (filled particles or phases)
    Plain nearest-neighbour sampling.

Free rotations and zooms fill the corners from outside the patch by *reflection*
(``cv2.BORDER_REFLECT_101``) for the image and the label alike, so the reflected image
context keeps its reflected boundaries: the label stays true to the pixels shown.

The defaults follow the grain-boundary papers (flips, as in 000; flips and 90-degree
rotations, as in 004). Seed 003's protocol (random rotation, flips, scaling, +-5 %
intensity) is ``AugmentConfig(rotate_deg=180, scale_range=(0.9, 1.1), intensity=0.05)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import cv2
import numpy as np

from grainseg_core._validation import as_2d_array, check_same_shape
from grainseg_core.errors import ConfigError, InputError

__all__ = [
    "AugmentConfig",
    "augment_pair",
    "flip_pair",
    "rot90_pair",
    "affine_pair",
    "scale_intensity",
    "LabelKind",
]

#: What a label means: thin boundary lines, or filled regions.
LabelKind = Literal["boundary", "mask"]
_LABEL_KINDS = ("boundary", "mask")

# Sub-pixel sample offsets (d_row, d_col) used for boundary labels; see the module docstring.
_BOUNDARY_OFFSETS = ((-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25))


@dataclass(frozen=True)
class AugmentConfig:
    """Options of :func:`augment_pair`.

    Parameters
    ----------
    flips : bool
        Random horizontal and vertical flips (each with probability 1/2).
    rot90 : bool
        Random rotation by 0, 90, 180 or 270 degrees.
    rotate_deg : float
        Largest free rotation, in degrees: the angle is uniform in
        ``[-rotate_deg, rotate_deg]``; 0 turns it off. At most 180.
    scale_range : tuple of float, optional
        ``(low, high)`` zoom factors, uniform in that range (> 1 zooms in, < 1 zooms out);
        the result is cropped or reflect-padded back to the input size. ``None`` turns it
        off. Each factor must lie in [0.5, 2].
    affine_p : float
        Probability of applying the free rotation / zoom to one item (when either is on).
    intensity : float
        Largest relative intensity change: the image is multiplied by a factor uniform in
        ``[1 - intensity, 1 + intensity]`` (0.05 = seed 003's +-5 %). 0 turns it off.
        Must lie in [0, 0.5].

    Examples
    --------
    >>> AugmentConfig(rotate_deg=180, scale_range=(0.9, 1.1), intensity=0.05).intensity
    0.05
    """

    flips: bool = True
    rot90: bool = True
    rotate_deg: float = 0.0
    scale_range: tuple[float, float] | None = None
    affine_p: float = 0.5
    intensity: float = 0.0

    def __post_init__(self) -> None:
        rot = _finite(self.rotate_deg, "AugmentConfig.rotate_deg")
        if not 0.0 <= rot <= 180.0:
            raise ConfigError(f"AugmentConfig.rotate_deg must lie in [0, 180] degrees; got {rot}.")
        if self.scale_range is not None:
            try:
                low, high = (float(v) for v in self.scale_range)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    "AugmentConfig.scale_range must be a pair (low, high) of zoom factors, "
                    f"e.g. (0.9, 1.1); got {self.scale_range!r}."
                ) from exc
            if not (0.5 <= low <= high <= 2.0):
                raise ConfigError(
                    "AugmentConfig.scale_range must satisfy 0.5 <= low <= high <= 2; "
                    f"got ({low}, {high})."
                )
            object.__setattr__(self, "scale_range", (low, high))
        p = _finite(self.affine_p, "AugmentConfig.affine_p")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"AugmentConfig.affine_p must lie in [0, 1]; got {p}.")
        inten = _finite(self.intensity, "AugmentConfig.intensity")
        if not 0.0 <= inten <= 0.5:
            raise ConfigError(
                f"AugmentConfig.intensity must lie in [0, 0.5] (0.05 = +-5 %); got {inten}."
            )

    @property
    def is_identity(self) -> bool:
        """True when no augmentation is switched on."""
        return not (
            self.flips
            or self.rot90
            or self.intensity > 0
            or (self.affine_p > 0 and (self.rotate_deg > 0 or self.scale_range is not None))
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (for run records)."""
        d = asdict(self)
        d["scale_range"] = list(self.scale_range) if self.scale_range is not None else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        known = {"flips", "rot90", "rotate_deg", "scale_range", "affine_p", "intensity"}
        extra = set(data) - known
        if extra:
            raise ConfigError(
                f"unknown AugmentConfig keys {sorted(extra)}; valid keys: {sorted(known)}."
            )
        kwargs = dict(data)
        if kwargs.get("scale_range") is not None:
            kwargs["scale_range"] = tuple(kwargs["scale_range"])
        return cls(**kwargs)


def _finite(value: Any, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number; got {value!r}.") from exc
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite; got {out}.")
    return out


def _check_pair(image: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
    img = as_2d_array(image, "image")
    lab = as_2d_array(label, "label")
    check_same_shape(img, lab, "image", "label")
    if img.dtype == bool or not np.issubdtype(img.dtype, np.number):
        raise InputError(f"image must be numeric (uint8, uint16 or float); got dtype {img.dtype}.")
    return img, lab


def _check_kind(label_kind: str) -> None:
    if label_kind not in _LABEL_KINDS:
        raise InputError(f"label_kind must be one of {_LABEL_KINDS}; got {label_kind!r}.")


def flip_pair(
    image: np.ndarray, label: np.ndarray, *, horizontal: bool = False, vertical: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Flip image and label alike.

    Parameters
    ----------
    image, label : np.ndarray, shape (M, N)
        Any dtypes.
    horizontal : bool
        Mirror left-right (reverse the columns).
    vertical : bool
        Mirror top-bottom (reverse the rows).

    Returns
    -------
    image, label : np.ndarray, shape (M, N)
        Contiguous copies, dtypes kept.

    Examples
    --------
    >>> img, lab = flip_pair(np.array([[1, 2]]), np.array([[0, 1]]), horizontal=True)
    >>> img.tolist(), lab.tolist()
    ([[2, 1]], [[1, 0]])
    """
    img, lab = _check_pair(image, label)
    axes = tuple(a for a, on in ((0, vertical), (1, horizontal)) if on)
    if axes:
        img, lab = np.flip(img, axis=axes), np.flip(lab, axis=axes)
    return np.ascontiguousarray(img), np.ascontiguousarray(lab)


def rot90_pair(image: np.ndarray, label: np.ndarray, *, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rotate image and label alike by ``k`` quarter turns, counter-clockwise.

    Parameters
    ----------
    image, label : np.ndarray, shape (M, N)
    k : int
        Number of quarter turns (any integer; taken modulo 4).

    Returns
    -------
    image, label : np.ndarray, shape (M, N) for even k, (N, M) for odd k

    Examples
    --------
    >>> img, _ = rot90_pair(np.array([[1, 2], [3, 4]]), np.zeros((2, 2)), k=1)
    >>> img.tolist()
    [[2, 4], [1, 3]]
    """
    img, lab = _check_pair(image, label)
    return np.ascontiguousarray(np.rot90(img, k)), np.ascontiguousarray(np.rot90(lab, k))


def affine_pair(
    image: np.ndarray,
    label: np.ndarray,
    *,
    angle_deg: float = 0.0,
    scale: float = 1.0,
    label_kind: LabelKind = "boundary",
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate and zoom image and label alike about the centre, keeping the size.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        uint8, uint16 or float; resampled bilinearly, dtype kept.
    label : np.ndarray, shape (M, N)
        bool or integer label; sampled, never interpolated (see the module docstring for
        the boundary-safe sampling used when ``label_kind="boundary"``).
    angle_deg : float
        Counter-clockwise rotation, in degrees.
    scale : float
        Zoom factor (> 1 zooms in and crops; < 1 zooms out and reflect-pads).
    label_kind : {"boundary", "mask"}
        How the label is sampled.

    Returns
    -------
    image, label : np.ndarray, shape (M, N)
        Same dtypes as the inputs. Pixels brought in from outside the patch are
        reflections of the patch, in both.

    Examples
    --------
    >>> lab = np.zeros((65, 65), bool); lab[32, 8:57] = True
    >>> _, out = affine_pair(np.zeros((65, 65), np.float32), lab, angle_deg=90)
    >>> bool(out[8:57, 32].all())
    True
    """
    img, lab = _check_pair(image, label)
    _check_kind(label_kind)
    angle = float(angle_deg)
    zoom = float(scale)
    if not math.isfinite(angle) or not math.isfinite(zoom) or zoom <= 0:
        raise InputError(
            f"angle_deg must be finite and scale a positive number; got {angle_deg!r}, {scale!r}."
        )
    rows, cols = img.shape
    size = (cols, rows)
    # Centre of the pixel grid in OpenCV's (x, y) = (col, row) order.
    matrix = cv2.getRotationMatrix2D(((cols - 1) / 2.0, (rows - 1) / 2.0), angle, zoom)
    border = cv2.BORDER_REFLECT_101
    img_in = img.astype(np.float32) if img.dtype not in (np.uint8, np.uint16, np.float32) else img
    img_out = cv2.warpAffine(img_in, matrix, size, flags=cv2.INTER_LINEAR, borderMode=border)
    img_out = img_out.astype(img.dtype, copy=False)

    lab_u8 = lab.astype(np.uint8) if lab.dtype == bool else lab
    if lab_u8.dtype not in (np.uint8, np.uint16, np.int16, np.int32, np.float32):
        lab_u8 = lab_u8.astype(np.int32)
    if label_kind == "mask":
        lab_out = cv2.warpAffine(lab_u8, matrix, size, flags=cv2.INTER_NEAREST, borderMode=border)
    else:
        inverse = np.vstack([cv2.invertAffineTransform(matrix), [0.0, 0.0, 1.0]])
        lab_out = np.zeros(lab_u8.shape, lab_u8.dtype)
        for d_row, d_col in _BOUNDARY_OFFSETS:
            # Sample the source at the inverse image of (col + d_col, row + d_row).
            shift = np.array([[1.0, 0.0, d_col], [0.0, 1.0, d_row], [0.0, 0.0, 1.0]])
            sampled = cv2.warpAffine(
                lab_u8,
                (inverse @ shift)[:2],
                size,
                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                borderMode=border,
            )
            np.maximum(lab_out, sampled, out=lab_out)
    return img_out, lab_out.astype(lab.dtype, copy=False)


def scale_intensity(image: np.ndarray, factor: float) -> np.ndarray:
    """Multiply the image intensities by ``factor``, staying in the valid range.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        Integer images are clipped to their dtype's range and rounded; float images lying
        in [0, 1] (normalised) are clipped to [0, 1]; other float images are not clipped.
    factor : float
        Positive gain, e.g. 1.03.

    Returns
    -------
    np.ndarray, shape (M, N), same dtype

    Examples
    --------
    >>> scale_intensity(np.array([[100, 250]], np.uint8), 1.05).tolist()
    [[105, 255]]
    """
    img = as_2d_array(image, "image")
    gain = float(factor)
    if not math.isfinite(gain) or gain <= 0:
        raise InputError(f"factor must be a positive number; got {factor!r}.")
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        out = np.rint(img.astype(np.float32) * gain)
        return np.clip(out, info.min, info.max).astype(img.dtype)
    if np.issubdtype(img.dtype, np.floating):
        in_unit = img.size > 0 and float(img.min()) >= 0.0 and float(img.max()) <= 1.0
        out = img * img.dtype.type(gain)
        return np.clip(out, 0.0, 1.0, out=out) if in_unit else out
    raise InputError(f"image must be integer or float; got dtype {img.dtype}.")


def augment_pair(
    image: np.ndarray,
    label: np.ndarray,
    rng: np.random.Generator | int,
    config: AugmentConfig | None = None,
    *,
    label_kind: LabelKind = "boundary",
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random draw of the configured augmentations to an image and its label.

    Order: flips and 90-degree turns (exact), then the free rotation / zoom (with
    probability ``config.affine_p``), then the intensity gain (image only). The draws
    come from ``rng`` alone, so the same generator state gives the same result.

    Parameters
    ----------
    image : np.ndarray, shape (S, S) or (M, N)
        uint8, uint16 or float image (normalised float32 in the training pipeline).
    label : np.ndarray, shape like ``image``
        bool or integer label.
    rng : numpy.random.Generator or int
        Source of randomness (an int seeds a fresh generator).
    config : AugmentConfig, optional
        What to apply; defaults to ``AugmentConfig()`` (flips and 90-degree turns).
    label_kind : {"boundary", "mask"}
        How the label is sampled under a free rotation or zoom.

    Returns
    -------
    image, label : np.ndarray
        Same dtypes; the shape is kept for square inputs (a quarter turn of a
        non-square input swaps its sides).

    Examples
    --------
    >>> img = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> out_img, out_lab = augment_pair(img, img > 7, 0)
    >>> bool(((out_img > 7) == out_lab).all())
    True
    """
    img, lab = _check_pair(image, label)
    _check_kind(label_kind)
    cfg = AugmentConfig() if config is None else config
    if not isinstance(cfg, AugmentConfig):
        raise InputError(f"config must be an AugmentConfig; got {type(cfg).__name__}.")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    # Draw every random number up front, in a fixed order, so that switching one option
    # never shifts another's draws for a given seed.
    horizontal, vertical = (gen.random(2) < 0.5).tolist()
    k = int(gen.integers(0, 4))
    do_affine = bool(gen.random() < cfg.affine_p)
    angle = float(gen.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    low, high = cfg.scale_range if cfg.scale_range is not None else (1.0, 1.0)
    zoom = float(gen.uniform(low, high))
    gain = float(gen.uniform(1.0 - cfg.intensity, 1.0 + cfg.intensity))

    if cfg.flips:
        img, lab = flip_pair(img, lab, horizontal=horizontal, vertical=vertical)
    if cfg.rot90 and k:
        img, lab = rot90_pair(img, lab, k=k)
    if do_affine and (cfg.rotate_deg > 0 or cfg.scale_range is not None):
        img, lab = affine_pair(img, lab, angle_deg=angle, scale=zoom, label_kind=label_kind)
    if cfg.intensity > 0:
        img = scale_intensity(img, gain)
    return img, lab
