"""Caches of the app: loaded models (shared, read-only) and pure computations.

- :func:`load_model_cached` keeps one :class:`~grainseg_core.inference.LoadedModel` per
  model file in ``st.cache_resource``: it is shared by every session and never modified
  (prediction only reads it), keyed by the path and the modification times of the weights
  and the card, so replacing a model file loads the new one.
- :func:`probability_cached` keeps the boundary probability map (and the ensemble's
  uncertainty map) of an image as a shared read-only resource (``st.cache_data`` would
  unpickle a 12 MB copy on every slider move), keyed by the image's content hash, the
  models (path + modification time) and the test-time augmentation. Post-processing sliders
  recompute from it without running the network again. The network runs on one
  long-lived worker thread (:data:`_INFERENCE`), which queues the forwards of concurrent
  sessions: each uses every core anyway, and one at a time bounds the activations' memory.
- :func:`postprocess_cached` keeps the post-processed boundary and labels per
  (probability map, settings), so moving a slider back is instant. They are a resource,
  not data: ``st.cache_data`` pickled 16 MB of masks on every slider move (~20 ms at
  2048x1536) and unpickled them on every hit; shared instead, their arrays are made
  read-only, so no caller can change what another session sees.
- :func:`display_gray_cached` keeps the down-scaled, contrast-stretched micrograph of the
  boundary view per image (the same on every slider move).
- :func:`grain_size_cached` keeps ASTM grain-size results per (boundary, method, options).
- :func:`model_card_cached` keeps a model's JSON card per file version (read on every
  rerun for the recommended post-processing).

Entry counts are bounded: a 2048x1536 map is 12 MB, and every session shares these caches.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import streamlit as st

from grainseg_core.errors import ModelError
from grainseg_core.postprocess import PostprocessConfig, run_postprocess
from ui.segment_views import display_gray

__all__ = [
    "ModelKey",
    "model_key",
    "load_model_cached",
    "model_card_cached",
    "probability_cached",
    "postprocess_cached",
    "display_gray_cached",
    "grain_size_cached",
    "clear_caches",
]

#: The thread every network forward of the app runs on (see the module docstring).
_INFERENCE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grainseg-inference")

#: (resolved .safetensors path, mtime of the weights in ns, mtime of the card in ns).
ModelKey = tuple[str, int, int]


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1  # missing: load_model raises the plain-words ModelError


def model_key(path: str | os.PathLike) -> ModelKey:
    """Cache key of a model file: its resolved path and the mtimes of weights and card.

    Examples
    --------
    >>> model_key("/nonexistent/m.safetensors")[1:]
    (-1, -1)
    """
    p = Path(path).expanduser()
    p = p.resolve() if p.exists() else p
    return str(p), _mtime_ns(p), _mtime_ns(p.with_suffix(".json"))


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def _load_model(path: str, weights_mtime_ns: int, card_mtime_ns: int):
    # The mtimes are part of the key only; a changed file gets a new entry.
    from grainseg_core.inference import load_model  # torch loads on first use only

    return load_model(path)


def load_model_cached(path: str | os.PathLike):
    """Load a model once per file version and share it across sessions (read-only).

    Parameters
    ----------
    path : str or path
        A ``.safetensors`` file with its ``.json`` card beside it.

    Returns
    -------
    grainseg_core.inference.LoadedModel

    Raises
    ------
    ModelError
        Missing, pickled, corrupt or inconsistent model files (errors are not cached).
    """
    return _load_model(*model_key(path))


@st.cache_data(max_entries=32, show_spinner=False)
def _model_card(path: str, weights_mtime_ns: int, card_mtime_ns: int) -> dict:
    from grainseg_core.nets.serialization import read_model_card

    return read_model_card(path)


def model_card_cached(path: str | os.PathLike) -> dict:
    """The JSON card of a model file (no weights loaded), read once per file version.

    Raises
    ------
    ModelError
        Missing card, not JSON, or without the fields a card must have (not cached).
    """
    return _model_card(*model_key(path))


@st.cache_resource(max_entries=6, show_spinner=False)
def _probability(
    image_key: str, _image: np.ndarray, models: tuple[ModelKey, ...], tta: str
) -> tuple[np.ndarray, np.ndarray | None]:
    from grainseg_core.inference import DEFAULT_OVERLAP, DEFAULT_TILE, segment_probability

    loaded = [load_model_cached(path) for path, _, _ in models]
    job = _INFERENCE.submit(
        segment_probability,
        _image,
        loaded,
        tta=tta,
        tile=DEFAULT_TILE,
        overlap=DEFAULT_OVERLAP,
        batch=4,
        progress=None,
    )
    prob, uncertainty = job.result()  # errors raised on the worker are raised here
    for shared in (prob, uncertainty):
        if shared is not None:
            shared.flags.writeable = False
    return prob, uncertainty


def probability_cached(
    image: np.ndarray,
    model_paths: list[str | os.PathLike] | tuple[str | os.PathLike, ...],
    *,
    image_key: str,
    tta: str = "none",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Boundary probability of ``image`` (ensemble mean) and its uncertainty, cached.

    Parameters
    ----------
    image : np.ndarray, shape (M, N)
        The micrograph, native dtype.
    model_paths : sequence of path
        One model, or several for an ensemble.
    image_key : str
        Content hash of ``image`` (:func:`ui.state.image_key`); the image itself is not
        hashed on every rerun.
    tta : {"none", "flips", "d4"}

    Returns
    -------
    probability : float32 (M, N)
    uncertainty : float32 (M, N) or None
        Per-pixel standard deviation across the models; None for one model.

    Raises
    ------
    ModelError
        No model given, or a model that cannot be loaded.
    InputError
        An image the network cannot take (too small, NaN, too large).
    """
    if not model_paths:
        raise ModelError(
            "no model is selected: choose one in the sidebar (or upload a .safetensors + "
            ".json pair)."
        )
    keys = tuple(model_key(p) for p in model_paths)
    return _probability(image_key, image, keys, str(tta))


@st.cache_resource(max_entries=12, show_spinner=False)
def _postprocess(
    prob_key: str, _prob: np.ndarray, config: tuple, pixel_size_um: float | None
) -> tuple[np.ndarray, np.ndarray, int, int]:
    post = PostprocessConfig(**dict(config))
    res = run_postprocess(_prob, post, pixel_size_um=pixel_size_um)
    for shared in (res.boundary, res.labels):
        shared.flags.writeable = False
    return res.boundary, res.labels, res.n_bridges, res.n_merged


def postprocess_cached(
    prob: np.ndarray,
    config: PostprocessConfig,
    *,
    prob_key: str,
    pixel_size_um: float | None = None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """:func:`grainseg_core.postprocess.run_postprocess`, cached per (map, settings).

    Parameters
    ----------
    prob : float32 (M, N)
    config : PostprocessConfig
    prob_key : str
        Identifies ``prob`` (e.g. image hash + models + tta).
    pixel_size_um : float, optional

    Returns
    -------
    boundary : bool (M, N), read-only
    labels : int32 (M, N), read-only
        Shared with every session that asks for the same map and settings: copy before
        changing them.
    n_bridges, n_merged : int
    """
    items = tuple((name, getattr(config, name)) for name in config.__dataclass_fields__)
    # A pixel size only matters for a minimum size in um; leaving it out of the key
    # otherwise lets a changed pixel size reuse the masks.
    uses_um = config.min_grain_size_unit == "um" and config.min_grain_size > 0
    return _postprocess(prob_key, prob, items, pixel_size_um if uses_um else None)


@st.cache_data(max_entries=8, show_spinner=False)
def _display_gray(image_key: str, _image: np.ndarray, max_side: int) -> np.ndarray:
    return display_gray(_image, max_side)


def display_gray_cached(image: np.ndarray, *, image_key: str, max_side: int) -> np.ndarray:
    """:func:`ui.segment_views.display_gray` of ``image``, once per image and size.

    Parameters
    ----------
    image : (M, N) micrograph
    image_key : str
        Content hash of ``image`` (:func:`ui.state.image_key`).
    max_side : int

    Returns
    -------
    uint8 (m, n)
    """
    return _display_gray(image_key, image, int(max_side))


@st.cache_data(max_entries=24, show_spinner=False)
def _grain_size(
    boundary_key: str,
    _boundary: np.ndarray,
    method: str,
    pixel_size_um: float,
    fields: tuple[int, int],
    options: tuple,
):
    from grainseg_core import astm

    opts = dict(options)
    if method == "intercept":
        config = astm.InterceptConfig(
            pattern=opts.get("pattern", "e112"), measure=opts.get("measure", "crossings")
        )
        return astm.intercept_grain_size(
            _boundary, pixel_size_um=pixel_size_um, config=config, fields=fields
        )
    if method == "planimetric":
        return astm.planimetric_grain_size(
            _boundary,
            pixel_size_um=pixel_size_um,
            fields=fields,
            test_area=opts.get("test_area", "circle"),
        )
    return astm.area_grain_size(_boundary, pixel_size_um=pixel_size_um, fields=fields)


def grain_size_cached(
    boundary: np.ndarray,
    method: str,
    *,
    boundary_key: str,
    pixel_size_um: float | None,
    fields: tuple[int, int] = (1, 1),
    **options: str,
):
    """ASTM grain size by ``method`` (``"intercept"``, ``"planimetric"``, ``"area"``), cached.

    Parameters
    ----------
    boundary : bool (M, N)
    method : {"intercept", "planimetric", "area"}
    boundary_key : str
        Content hash of ``boundary``.
    pixel_size_um : float
        Required by every method (a missing one raises the core's InputError).
    fields : (rows, cols)
    **options
        ``pattern`` and ``measure`` (intercept), ``test_area`` (planimetric).

    Returns
    -------
    grainseg_core.astm.GrainSizeResult
    """
    from grainseg_core import astm
    from grainseg_core.errors import InputError, unknown_name_error

    if method not in ("intercept", "planimetric", "area"):
        raise unknown_name_error(
            "ASTM method", method, ("intercept", "planimetric", "area"), InputError
        )
    if pixel_size_um is None:
        # Let the core say it, in its words, without caching a failure.
        return getattr(astm, f"{method}_grain_size")(boundary, pixel_size_um=None)
    return _grain_size(
        boundary_key,
        boundary,
        method,
        float(pixel_size_um),
        (int(fields[0]), int(fields[1])),
        tuple(sorted(options.items())),
    )


def clear_caches() -> None:
    """Forget cached maps and results (models stay loaded)."""
    _model_card.clear()
    _probability.clear()
    _postprocess.clear()
    _display_gray.clear()
    _grain_size.clear()
