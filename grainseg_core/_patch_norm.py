"""The network-input normalisation shared by training patches and whole-image inference.

Private module of :mod:`grainseg_core.patching`; import from there.

**The rule.** A network sees an image scaled to float32 [0, 1] by
:func:`grainseg_core.io.normalize_image` computed on the *whole* source image (after the
export's median filter / CLAHE, which also run on the whole image). Inference does exactly
that on the micrograph it is given. Training patches are cut from the whole image, so each
patch is scaled with its *source image's* bounds (the ``percentile`` or ``minmax`` levels of
the whole preprocessed source, recorded per source in the manifest at export), never with
its own: a patch that happens to hold only bright grain interiors would otherwise be
stretched to [0, 1] and look nothing like the same region at inference. With
``method="dtype"`` the scaling is per pixel and needs no bounds.

:class:`InputNormalization` is what a model card stores under ``input_normalization`` (the
trainer takes it from :attr:`grainseg_core.datasets.GrainDataset.input_normalization`) and
what :mod:`grainseg_core.inference` applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from grainseg_core.errors import ConfigError, unknown_name_error

# normalize_image finds its levels with normalization_levels; the bounds recorded for
# training patches must be the very same numbers, bit for bit, so they come from there too.
from grainseg_core.io import (
    NORMALIZE_METHODS,
    normalization_levels,
    normalize_image,
    normalize_to_levels,
)

__all__ = [
    "DEFAULT_PERCENTILES",
    "InputNormalization",
    "normalization_bounds",
    "normalize_with_bounds",
    "method_needs_bounds",
]

#: The (low, high) percentiles of ``method="percentile"`` (normalize_image's default).
DEFAULT_PERCENTILES: tuple[float, float] = (0.5, 99.5)

# Methods whose levels depend on the whole image (and must be recorded per source).
_IMAGE_LEVEL_METHODS = ("percentile", "minmax")


def normalization_bounds(
    image: np.ndarray, *, percentiles: tuple[float, float] = DEFAULT_PERCENTILES
) -> dict[str, list[float]]:
    """The levels :func:`normalize_image` maps to 0 and 1, for each image-level method.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        The whole (preprocessed) source image, native dtype.
    percentiles : (float, float)
        Levels of ``method="percentile"``.

    Returns
    -------
    dict
        ``{"percentile": [low, high], "minmax": [low, high]}`` as Python floats (they
        survive a JSON round trip exactly).

    Examples
    --------
    >>> normalization_bounds(np.array([[0, 50], [100, 200]], np.uint8))["minmax"]
    [0.0, 200.0]
    """
    return {
        method: list(normalization_levels(image, method=method, percentiles=percentiles))
        for method in _IMAGE_LEVEL_METHODS
    }


def normalize_with_bounds(
    image: np.ndarray, bounds: tuple[float, float] | list[float]
) -> np.ndarray:
    """Scale ``image`` with given (low, high) levels exactly as :func:`normalize_image` does.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        A crop of the image the bounds were computed on.
    bounds : (float, float)
        From :func:`normalization_bounds`.

    Returns
    -------
    np.ndarray, shape (M, N), float32
        Equal, element for element, to the same crop of ``normalize_image(whole)``.

    Examples
    --------
    >>> normalize_with_bounds(np.array([[0, 50], [100, 200]], np.uint8), (0.0, 200.0))
    array([[0.  , 0.25],
           [0.5 , 1.  ]], dtype=float32)
    """
    return normalize_to_levels(image, bounds)


@dataclass(frozen=True)
class InputNormalization:
    """How an image becomes the network input: preprocessing, then whole-image scaling.

    Parameters
    ----------
    method : {"percentile", "dtype", "minmax"}
        :func:`grainseg_core.io.normalize_image` method, applied to the whole image.
    percentiles : (float, float)
        Its levels for ``"percentile"``.
    median : int
        Median filter size applied first (0 = none), as in the dataset export.
    clahe : bool
        CLAHE after the median filter, as in the dataset export.
    clahe_clip_limit : float
    clahe_tiles : int

    Examples
    --------
    >>> InputNormalization.from_card({"input_normalization": "minmax"}).method
    'minmax'
    >>> img = np.array([[0, 50], [100, 200]], np.uint8)
    >>> InputNormalization(method="minmax").apply(img)[1]
    array([0.5, 1. ], dtype=float32)
    """

    method: str = "percentile"
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES
    median: int = 0
    clahe: bool = False
    clahe_clip_limit: float = 2.0
    clahe_tiles: int = 8

    def __post_init__(self) -> None:
        if self.method not in NORMALIZE_METHODS:
            raise unknown_name_error("normalisation method", str(self.method), NORMALIZE_METHODS)
        try:
            lo, hi = (float(p) for p in self.percentiles)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"input normalisation percentiles must be two numbers; got {self.percentiles!r}."
            ) from exc
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo < hi <= 100.0):
            raise ConfigError(
                f"input normalisation percentiles must satisfy 0 <= low < high <= 100; "
                f"got ({lo}, {hi})."
            )
        object.__setattr__(self, "percentiles", (lo, hi))
        if isinstance(self.median, bool) or not isinstance(self.median, (int, np.integer)) or (
            self.median < 0 or (self.median > 1 and self.median % 2 == 0)
        ):
            raise ConfigError(
                f"input normalisation median must be 0 or an odd size; got {self.median!r}."
            )
        object.__setattr__(self, "median", int(self.median))
        object.__setattr__(self, "clahe", bool(self.clahe))
        object.__setattr__(self, "clahe_clip_limit", float(self.clahe_clip_limit))
        object.__setattr__(self, "clahe_tiles", int(self.clahe_tiles))

    @property
    def needs_preprocessing(self) -> bool:
        """True when a median filter or CLAHE runs before the scaling."""
        return self.median >= 3 or self.clahe

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what a model card stores under ``input_normalization``)."""
        out = asdict(self)
        out["percentiles"] = list(self.percentiles)
        out["scope"] = "image"
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str | None) -> InputNormalization:
        """Read the card form: a dict (as :meth:`to_dict` writes), a method name, or None.

        Raises
        ------
        ConfigError
            Unknown keys, an unknown method or out-of-range values.
        """
        if data is None:
            return cls()
        if isinstance(data, str):
            return cls(method=data)
        if not isinstance(data, Mapping):
            raise ConfigError(
                "input_normalization must be a method name or an object with 'method'; "
                f"got {type(data).__name__}."
            )
        d = dict(data)
        d.pop("scope", None)
        # nets' own tests and older cards name the percentiles this way.
        if "clip_percentiles" in d and "percentiles" not in d:
            d["percentiles"] = d.pop("clip_percentiles")
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(d) - known)
        if extra:
            raise ConfigError(
                f"input_normalization has unknown keys {extra}; valid keys: {sorted(known)}."
            )
        return cls(**d)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> InputNormalization:
        """The normalisation of a model card (``card["input_normalization"]``; default
        ``"percentile"`` when the card says nothing)."""
        return cls.from_dict(card.get("input_normalization"))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Preprocess and scale a whole image: (M, N) native dtype -> float32 [0, 1]."""
        # The export stores float64 sources as float32; do the same so the levels match.
        img = image.astype(np.float32) if image.dtype == np.float64 else image
        if self.needs_preprocessing:
            from grainseg_core._patch_config import PatchConfig
            from grainseg_core.patching import preprocess_image

            img = preprocess_image(
                img,
                PatchConfig(
                    median=self.median,
                    clahe=self.clahe,
                    clahe_clip_limit=self.clahe_clip_limit,
                    clahe_tiles=self.clahe_tiles,
                ),
            )
        return normalize_image(img, method=self.method, percentiles=self.percentiles)


def method_needs_bounds(method: str) -> bool:
    """True for the methods whose levels come from the whole image."""
    return method in _IMAGE_LEVEL_METHODS
