"""Inference: tiled prediction with seam-free blending, flip TTA, ensembles, ``segment``.

The pieces, from the most general to the product call:

- :func:`predict_tiled` runs *any* callable predictor, (B, 1, h, w) -> (B, 1, h, w), over
  overlapping tiles of an image of any size and blends the tiles with ``sin^2`` ramps
  (MONAI ``sliding_window_inference`` style); memory stays bounded by the output array.
- :func:`tta_predictor` wraps a predictor with flip (``"flips"``) or dihedral (``"d4"``)
  test-time augmentation.
- :func:`predict_ensemble` averages several predictors and returns the per-pixel standard
  deviation as an uncertainty map (seed 004 summed the maps of three models; the mean here
  is that sum / 3).
- :func:`load_model` reads a saved network (safetensors + JSON card, never a pickle) into a
  :class:`LoadedModel` whose :meth:`~LoadedModel.prepare` applies the input normalisation it
  was trained with and whose :meth:`~LoadedModel.predict` gives probabilities.
- :func:`segment` goes from a micrograph to probabilities, boundaries, grains and a grain
  table in one call, with one model or an ensemble; :func:`save_segmentation` writes the
  result as files (boundary PNG, labels TIFF, grain CSV, summary JSON).

**Normalisation** is identical at training and inference: the whole micrograph is
preprocessed and scaled with :func:`grainseg_core.io.normalize_image` as the card's
``input_normalization`` says (:class:`grainseg_core.patching.InputNormalization`), and
training patches are scaled with the levels of their whole source image (see
:mod:`grainseg_core.datasets`), so a training patch is exactly a crop of the inference input.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grainseg_core._inference_model import DEVICES, PRECISIONS, LoadedModel, load_model
from grainseg_core._inference_outputs import save_segmentation
from grainseg_core._inference_summary import summarize_grains
from grainseg_core._inference_tiling import check_tiling_options, count_tiles, run_tiles
from grainseg_core._inference_tta import TTA_MODES, check_tta, tta_passes, tta_predictor
from grainseg_core._validation import as_2d_array, check_pixel_size
from grainseg_core.config import max_pixels
from grainseg_core.errors import ImageTooLargeError, InputError
from grainseg_core.grains import grain_table as _grain_table
from grainseg_core.patching import InputNormalization
from grainseg_core.postprocess import PostprocessConfig, recommended_postprocess, run_postprocess
from grainseg_core.types import ProgressCallback

__all__ = [
    "DEFAULT_MODEL_PATH",
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "DEVICES",
    "PRECISIONS",
    "TTA_MODES",
    "InputNormalization",
    "LoadedModel",
    "SegmentationResult",
    "load_model",
    "predict_ensemble",
    "predict_probability",
    "predict_tiled",
    "save_segmentation",
    "segment",
    "tta_predictor",
]

#: Where the shipped default model lives (``models/default.safetensors`` + ``.json``).
DEFAULT_MODEL_PATH: Path = Path(__file__).resolve().parents[1] / "models" / "default.safetensors"

#: Default tile side (px) of :func:`segment`. On the 2-core CPU, oneDNN runs one
#: 2048x1536 frame faster than any tiling of it (``bench/bench_inference.py``: 256-1024 px
#: tiles cost 1.2-3x the full frame, overlap included), so an SEM frame up to 2048 px wide
#: is one pass; larger images are tiled, which bounds the memory (~1 GB for a slim U-Net).
DEFAULT_TILE = 2048
#: Default overlap (px) between neighbouring tiles (>= the blending ramp a U-Net of depth
#: 4 needs to hide its tile-edge effects).
DEFAULT_OVERLAP = 64

_Predictor = Callable[[np.ndarray], Any]


# ----------------------------------------------------------------------------- checks


def _check_image(image: Any, name: str = "image", *, min_size: int = 1) -> np.ndarray:
    """(M, N) real-valued, finite, within the pixel limit; returned unconverted."""
    arr = as_2d_array(image, name, min_size=min_size)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{name} must hold real numbers; got dtype {arr.dtype}.")
    limit = max_pixels()
    if arr.size > limit:
        raise ImageTooLargeError(
            f"{name} has {arr.size:,} pixels ({arr.shape[0]}x{arr.shape[1]}), more than the "
            f"limit of {limit:,}; crop or downscale it, or raise GRAINSEG_MAX_PIXELS."
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise InputError(
            f"{name} has {bad} NaN or infinite pixel(s); replace them (e.g. with the image "
            "median) before prediction."
        )
    return arr


def _check_predictor(predictor: Any, name: str = "predictor") -> _Predictor:
    if not callable(predictor):
        raise InputError(
            f"{name} must be a callable mapping a (B, 1, h, w) float32 batch to the same "
            f"shape; got {type(predictor).__name__}."
        )
    return predictor


# ----------------------------------------------------------------------------- tiling


def predict_tiled(
    image: np.ndarray,
    predictor: _Predictor,
    *,
    tile: int = 512,
    overlap: int = 64,
    batch: int = 4,
    divisor: int = 32,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Run ``predictor`` over overlapping tiles of ``image`` and blend them without seams.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        The network input (normalised float, usually :meth:`LoadedModel.prepare` of a
        micrograph); any size from 1x1 up to the pixel limit.
    predictor : callable
        Maps a float32 numpy batch (B, 1, h, w) to an output of the same shape (numpy, or
        a torch tensor, moved to the CPU). ``h`` and ``w`` are multiples of ``divisor``.
        The batch is a reused buffer: do not keep references to it.
    tile : int
        Tile side in pixels, rounded up to a multiple of ``divisor``. An axis shorter than
        one tile is reflect-padded to a multiple of ``divisor`` and gets one tile of that
        size (so a small image is one forward pass).
    overlap : int
        Minimum overlap of neighbouring tiles, also the length of the blending ramps;
        0 gives plain tiling. Must be smaller than the tile.
    batch : int
        Most tiles per predictor call; fewer when ``batch`` tiles would exceed 4
        megapixels (large tiles go one at a time), which bounds the network's memory.
    divisor : int
        The network's ``input_divisor``.
    progress : callable, optional
        ``progress(tiles_done, tiles_total)`` after each batch.

    Returns
    -------
    np.ndarray, shape (M, N), float32
        The blended output: at each pixel the average of the tiles' outputs weighted by
        their windows (1 inside a tile, ``sin^2`` ramps over ``overlap`` px towards each
        neighbour). A predictor that commutes with cropping is reproduced exactly (to
        float rounding): ``predict_tiled(x, lambda b: 2 * b) == 2 * x``.

    Raises
    ------
    InputError
        Image not 2-D, not real, with NaN/inf, over the pixel limit; bad options; a
        predictor that is not callable or returns another shape.

    Examples
    --------
    >>> x = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    >>> y = predict_tiled(x, lambda b: 2 * b, tile=32, overlap=8, divisor=8)
    >>> y.shape, bool(np.allclose(y, 2 * x))
    ((37, 53), True)
    """
    arr = _check_image(image)
    fn = _check_predictor(predictor)
    t, ov, b, div = check_tiling_options(tile, overlap, batch, divisor)
    return run_tiles(
        arr.astype(np.float32, copy=False), fn, tile=t, overlap=ov, batch=b, divisor=div,
        progress=progress,
    )


class _RunningStats:
    """Streaming mean and population standard deviation of maps (Welford), float32."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, value: np.ndarray) -> None:
        self.n += 1
        if self.mean is None:
            self.mean = np.array(value, dtype=np.float32, copy=True)
            return
        delta = value - self.mean
        self.mean += delta / np.float32(self.n)
        if self._m2 is None:
            self._m2 = np.zeros_like(self.mean)
        self._m2 += delta * (value - self.mean)

    def result(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(mean, std); std is None after a single map."""
        if self.mean is None:
            raise InputError("no map was predicted: give at least one model or predictor.")
        if self._m2 is None:
            return self.mean, None
        std = self._m2 / np.float32(self.n)
        np.maximum(std, 0.0, out=std)
        return self.mean, np.sqrt(std, out=std)


def predict_ensemble(
    image: np.ndarray,
    predictors: Sequence[_Predictor],
    *,
    tta: str = "none",
    tile: int = 512,
    overlap: int = 64,
    batch: int = 4,
    divisor: int = 32,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and per-pixel standard deviation of several predictors' tiled maps.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        The network input shared by all predictors (for models trained with different
        normalisations use :func:`segment`, which prepares the input per model).
    predictors : sequence of callable
        As for :func:`predict_tiled`.
    tta : {"none", "flips", "d4"}
        Test-time augmentation applied to every predictor.
    tile, overlap, batch, divisor, progress
        As for :func:`predict_tiled`; progress counts tiles over all predictors.

    Returns
    -------
    mean : np.ndarray, shape (M, N), float32
        The average map (seed 004's sum of three maps, divided by 3).
    std : np.ndarray, shape (M, N), float32, or None
        Population standard deviation across predictors (the uncertainty map); None for
        a single predictor.

    Examples
    --------
    >>> x = np.zeros((16, 16), np.float32)
    >>> mean, std = predict_ensemble(x, [lambda b: b + 0.2, lambda b: b + 0.6], divisor=8)
    >>> round(float(mean[0, 0]), 4), round(float(std[0, 0]), 4)
    (0.4, 0.2)
    """
    arr = _check_image(image).astype(np.float32, copy=False)
    preds = list(predictors) if isinstance(predictors, Iterable) else None
    if not preds:
        raise InputError("predictors must be a non-empty sequence of callables.")
    fns = [_check_predictor(p, f"predictors[{i}]") for i, p in enumerate(preds)]
    mode = check_tta(tta)
    t, ov, b, div = check_tiling_options(tile, overlap, batch, divisor)
    per = count_tiles(arr.shape, t, ov, div)
    stats = _RunningStats()
    for k, fn in enumerate(fns):
        stats.add(
            run_tiles(
                arr, tta_predictor(fn, mode), tile=t, overlap=ov, batch=b, divisor=div,
                progress=progress, progress_offset=k * per, progress_total=per * len(fns),
            )
        )
    return stats.result()


# ----------------------------------------------------------------------------- models


def _as_models(model: Any) -> list[LoadedModel]:
    """A LoadedModel, a path, or a non-empty sequence of them -> list of LoadedModel."""
    if isinstance(model, (LoadedModel, str, os.PathLike)):
        items: list[Any] = [model]
    elif isinstance(model, Sequence) and not isinstance(model, (bytes, bytearray)):
        items = list(model)
        if not items:
            raise InputError("model is an empty list; give at least one model (or a path).")
    else:
        raise InputError(
            "model must be a LoadedModel, a path to a .safetensors model, or a list of them; "
            f"got {type(model).__name__}."
        )
    out = []
    for i, item in enumerate(items):
        if isinstance(item, LoadedModel):
            out.append(item)
        elif isinstance(item, (str, os.PathLike)):
            out.append(load_model(item))
        else:
            raise InputError(
                f"model[{i}] must be a LoadedModel or a path; got {type(item).__name__}."
            )
    return out


def predict_probability(
    image: np.ndarray,
    model: LoadedModel | str | os.PathLike,
    *,
    tta: str = "none",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    batch: int = 4,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Boundary probability map of a micrograph with one model.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        The micrograph, native dtype (normalised here as the model's card says).
    model : LoadedModel or path
    tta, tile, overlap, batch, progress
        As for :func:`segment`.

    Returns
    -------
    np.ndarray, shape (M, N), float32 in [0, 1]

    Examples
    --------
    >>> # prob = predict_probability(image, load_model("models/default.safetensors"))
    """
    return segment_probability(
        image, _as_models(model)[:1], tta=tta, tile=tile, overlap=overlap, batch=batch,
        progress=progress,
    )[0]


def segment_probability(
    image: np.ndarray,
    models: list[LoadedModel],
    *,
    tta: str,
    tile: int,
    overlap: int,
    batch: int,
    progress: ProgressCallback | None,
    timings: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean probability and uncertainty of ``models`` on a raw image (checked here)."""
    arr = _check_image(image, min_size=2)
    mode = check_tta(tta)
    options = [check_tiling_options(tile, overlap, batch, m.divisor) for m in models]
    per = [count_tiles(arr.shape, t, ov, div) for t, ov, _, div in options]
    total = sum(per)
    prepared: dict[InputNormalization, np.ndarray] = {}
    stats = _RunningStats()
    t_prep = t_pred = 0.0
    done = 0
    for model, (t, ov, b, div), n_tiles in zip(models, options, per):
        start = time.perf_counter()
        # Models trained with the same normalisation share one prepared input.
        if model.normalization not in prepared:
            prepared[model.normalization] = model.prepare(arr)
        x = prepared[model.normalization]
        mid = time.perf_counter()
        stats.add(
            run_tiles(
                x, tta_predictor(model.predict, mode), tile=t, overlap=ov, batch=b,
                divisor=div, progress=progress, progress_offset=done, progress_total=total,
            )
        )
        done += n_tiles
        t_prep += mid - start
        t_pred += time.perf_counter() - mid
    mean, std = stats.result()
    # Blending and averaging can step a rounding error outside [0, 1].
    prob = np.clip(mean, 0.0, 1.0, out=mean)
    if timings is not None:
        timings["prepare"] = t_prep
        timings["predict"] = t_pred
    return prob, std


# ----------------------------------------------------------------------------- segment


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """Everything :func:`segment` computes for one micrograph.

    Attributes
    ----------
    probability : float32 (M, N)
        Boundary probability (the ensemble mean for several models).
    boundary : bool (M, N)
        Post-processed boundary mask, True = boundary.
    labels : int32 (M, N)
        Grains 1..n, 0 = boundary (or excluded edge grain).
    grain_table : pandas.DataFrame
        :func:`grainseg_core.grains.grain_table` of ``labels``, one row per grain.
    uncertainty : float32 (M, N) or None
        Per-pixel standard deviation of the models' probabilities; None for one model.
    model_names : tuple of str
    timings : dict of str to float
        Seconds spent: ``load_model``, ``prepare``, ``predict``, ``postprocess``,
        ``grain_table``, ``total``.
    pixel_size_um : float or None
    settings : dict
        tta, tile, overlap, batch and the post-processing options used.
    """

    probability: np.ndarray
    boundary: np.ndarray
    labels: np.ndarray
    grain_table: pd.DataFrame
    uncertainty: np.ndarray | None
    model_names: tuple[str, ...]
    timings: dict[str, float]
    pixel_size_um: float | None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def n_grains(self) -> int:
        """Number of grains (rows of the grain table)."""
        return int(len(self.grain_table))

    def summary(self, *, astm: bool = True) -> dict[str, Any]:
        """Grain count, mean/median ECD (px, um), mean aspect ratio and ASTM E112 G.

        Parameters
        ----------
        astm : bool
            Compute G by the intercept method (needs ``pixel_size_um``; ~0.1 s).

        Returns
        -------
        dict
            JSON-ready; see ``_inference_summary.summarize_grains``. Values that cannot
            be computed are None (``astm_note`` says why for G).
        """
        out = summarize_grains(
            self.grain_table, self.boundary, pixel_size_um=self.pixel_size_um, astm=astm
        )
        out["pixel_size_um"] = self.pixel_size_um
        out["models"] = list(self.model_names)
        if self.uncertainty is not None:
            out["mean_uncertainty"] = float(self.uncertainty.mean())
        return out


def segment(
    image: np.ndarray,
    model: LoadedModel | str | os.PathLike | Sequence[LoadedModel | str | os.PathLike],
    *,
    pixel_size_um: float | None = None,
    post: PostprocessConfig | None = None,
    tta: str = "none",
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    batch: int = 4,
    progress: ProgressCallback | None = None,
) -> SegmentationResult:
    """Segment a micrograph: probabilities, boundaries, grains and the grain table.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        The micrograph in its native dtype (as :func:`grainseg_core.io.read_image` gives
        it), at least 2x2 pixels and at most :func:`grainseg_core.config.max_pixels`.
    model : LoadedModel, path, or a list of them
        One model, or an ensemble (mean of the probability maps; the standard deviation
        becomes ``uncertainty``). Paths are loaded with :func:`load_model` (for repeated
        calls load once and pass the LoadedModel).
    pixel_size_um : float, optional
        Micrometres per pixel, for the ``*_um`` columns (and a minimum grain size in um).
    post : PostprocessConfig, optional
        Threshold and clean-up steps. Default: what the (first) model's card recommends
        (:func:`~grainseg_core.postprocess.recommended_postprocess`: the zoo's models carry
        the threshold chosen on validation images and thinning to 1-px boundaries), else
        ``PostprocessConfig()`` (``probability > 0.5`` only).
    tta : {"none", "flips", "d4"}
        Test-time augmentation (1, 4 or 8 forward passes per tile).
    tile, overlap, batch : int
        Tiling of :func:`predict_tiled` (tile rounded up to each model's divisor). The
        default tile covers a 2048x1536 SEM frame in one pass (fastest on CPU); lower it
        to bound memory on small machines.
    progress : callable, optional
        ``progress(tiles_done, tiles_total)`` over all models.

    Returns
    -------
    SegmentationResult

    Raises
    ------
    InputError
        Image not 2-D, smaller than 2x2, not real-valued, with NaN/inf; bad options.
    ImageTooLargeError
        More pixels than the limit.
    ModelError
        A model path that cannot be loaded (missing, pickled, corrupt, mismatched).

    Examples
    --------
    >>> from grainseg_core.samples import load_sample
    >>> # result = segment(load_sample("nist_steel").image, "models/default.safetensors",
    >>> #                  pixel_size_um=0.5)
    >>> # result.n_grains, result.summary()["mean_ecd_um"]
    """
    start = time.perf_counter()
    arr = _check_image(image, min_size=2)
    size = check_pixel_size(pixel_size_um)
    if post is not None and not isinstance(post, PostprocessConfig):
        raise InputError(
            f"post must be a PostprocessConfig; got {type(post).__name__}. Build one with "
            "grainseg_core.postprocess.PostprocessConfig(threshold=..., ...)."
        )
    check_tta(tta)
    check_tiling_options(tile, overlap, batch, 1)
    timings: dict[str, float] = {}
    models = _as_models(model)
    timings["load_model"] = time.perf_counter() - start
    if post is None:
        post = recommended_postprocess(models[0].card, model_name=models[0].name) or PostprocessConfig()
    prob, uncertainty = segment_probability(
        arr, models, tta=tta, tile=tile, overlap=overlap, batch=batch, progress=progress,
        timings=timings,
    )
    clock = time.perf_counter()
    processed = run_postprocess(prob, post, pixel_size_um=size)
    timings["postprocess"] = time.perf_counter() - clock
    clock = time.perf_counter()
    table = _grain_table(processed.labels, pixel_size_um=size)
    timings["grain_table"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - start
    settings = {
        "tta": tta,
        "tta_passes": tta_passes(tta),
        "tile": int(tile),
        "overlap": int(overlap),
        "batch": int(batch),
        "postprocess": {k: getattr(post, k) for k in post.__dataclass_fields__},
        "models": [m.describe() for m in models],
    }
    return SegmentationResult(
        probability=prob,
        boundary=processed.boundary,
        labels=processed.labels,
        grain_table=table,
        uncertainty=uncertainty,
        model_names=tuple(m.name for m in models),
        timings=timings,
        pixel_size_um=size,
        settings=settings,
    )
