"""A :class:`~grainseg_core.inference.SegmentationResult` from a probability map already at hand.

:func:`grainseg_core.inference.segment` runs the network and then post-processes. A user
interface keeps the probability map and re-runs only the second half when a slider moves
or a correction stroke is drawn; these functions are that second half:

- :func:`segmentation_from_masks`: probability + post-processed boundary (and labels) ->
  result, with manual correction strokes (:mod:`grainseg_core.corrections`) applied and
  the grains relabelled (edge exclusion as ``post`` says) and measured;
- :func:`resegment`: probability -> :func:`~grainseg_core.postprocess.run_postprocess`
  -> :func:`segmentation_from_masks`;
- :func:`~grainseg_core.postprocess.recommended_postprocess` (re-exported here): the
  post-processing a model's card recommends, where a user interface starts its controls.

A traced boundary mask (a bundled sample's label, an annotation) goes through the same
path as a 0/1 probability map, so statistics of traced and predicted boundaries are
computed alike.

Example
-------
>>> p = np.zeros((20, 20), np.float32); p[:, 10] = 1.0
>>> r = resegment(p, pixel_size_um=0.5)
>>> r.n_grains, r.model_names
(2, ())
>>> from grainseg_core.corrections import Stroke
>>> resegment(p, strokes=[Stroke(((5, 0), (5, 19)))]).n_grains
4
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from grainseg_core._validation import (
    as_2d_array,
    as_boundary_mask,
    check_pixel_size,
    check_probability_map,
)
from grainseg_core.corrections import Stroke, apply_corrections
from grainseg_core.errors import InputError
from grainseg_core.grains import grain_table
from grainseg_core.inference import SegmentationResult
from grainseg_core.postprocess import (
    PostprocessConfig,
    grains_from_boundary,
    recommended_postprocess,
    run_postprocess,
)

__all__ = ["segmentation_from_masks", "resegment", "recommended_postprocess"]

#: Default post-processing (frozen, so safe as a default argument).
_DEFAULT_POST = PostprocessConfig()


def _check_same_shape(arr: np.ndarray | None, shape: tuple[int, ...], name: str) -> None:
    if arr is not None and arr.shape != shape:
        raise InputError(
            f"{name} (shape {arr.shape}) must match the probability map (shape {shape})."
        )


def segmentation_from_masks(
    probability: Any,
    boundary: Any,
    *,
    labels: Any = None,
    post: PostprocessConfig = _DEFAULT_POST,
    pixel_size_um: float | None = None,
    uncertainty: Any = None,
    model_names: Sequence[str] = (),
    strokes: Iterable[Stroke] = (),
    snap_px: float = 0.0,
    settings: dict[str, Any] | None = None,
) -> SegmentationResult:
    """Assemble a result from a probability map and its post-processed boundary.

    Parameters
    ----------
    probability : float (M, N) in [0, 1]
    boundary : bool (M, N)
        The post-processed boundary mask (True = boundary).
    labels : int32 (M, N), optional
        Grain labels of ``boundary`` (as :func:`~grainseg_core.postprocess.run_postprocess`
        gives them); recomputed when omitted or when strokes change the boundary.
    post : PostprocessConfig
        The settings that produced ``boundary``; ``exclude_edge_grains`` is applied when
        labelling, the rest is recorded in ``settings``.
    pixel_size_um : float, optional
        For the ``*_um`` columns of the grain table.
    uncertainty : float (M, N), optional
        Ensemble standard deviation.
    model_names : sequence of str
        What produced the probability map.
    strokes : iterable of Stroke
        Manual corrections, applied in order to ``boundary``.
    snap_px : float
        Passed to :func:`~grainseg_core.corrections.apply_corrections`.
    settings : dict, optional
        Extra settings to record (tta, models...); ``postprocess`` and ``corrections``
        are filled in here.

    Returns
    -------
    SegmentationResult
        ``timings`` holds ``corrections``, ``label``, ``grain_table`` and ``total`` (s).

    Raises
    ------
    InputError
        Maps of different shapes, a bad probability map, mask, pixel size or stroke.
    """
    start = time.perf_counter()
    prob = check_probability_map(probability, "probability")
    mask = as_boundary_mask(boundary, "boundary")
    _check_same_shape(mask, prob.shape, "boundary")
    size = check_pixel_size(pixel_size_um)
    if not isinstance(post, PostprocessConfig):
        raise InputError(f"post must be a PostprocessConfig; got {type(post).__name__}.")
    unc = None
    if uncertainty is not None:
        unc = as_2d_array(uncertainty, "uncertainty").astype(np.float32, copy=False)
        _check_same_shape(unc, prob.shape, "uncertainty")
    lab = None
    if labels is not None:
        lab = as_2d_array(labels, "labels")
        _check_same_shape(lab, prob.shape, "labels")
    stroke_list = list(strokes)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    if stroke_list:
        mask = apply_corrections(mask, stroke_list, snap_px=snap_px)
        lab = None  # the boundary changed: relabel
    timings["corrections"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if lab is None:
        lab = grains_from_boundary(mask, post)
    timings["label"] = time.perf_counter() - clock
    clock = time.perf_counter()
    table = grain_table(lab, pixel_size_um=size)
    timings["grain_table"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - start
    record = dict(settings or {})
    record["postprocess"] = {k: getattr(post, k) for k in post.__dataclass_fields__}
    record["corrections"] = {
        "n_strokes": len(stroke_list),
        "n_draw": sum(s.mode == "draw" for s in stroke_list),
        "n_erase": sum(s.mode == "erase" for s in stroke_list),
        "snap_px": float(snap_px),
    }
    return SegmentationResult(
        probability=prob,
        boundary=mask,
        labels=np.asarray(lab, dtype=np.int32),
        grain_table=table,
        uncertainty=unc,
        model_names=tuple(str(m) for m in model_names),
        timings=timings,
        pixel_size_um=size,
        settings=record,
    )


def resegment(
    probability: Any,
    *,
    post: PostprocessConfig = _DEFAULT_POST,
    pixel_size_um: float | None = None,
    uncertainty: Any = None,
    model_names: Sequence[str] = (),
    strokes: Iterable[Stroke] = (),
    snap_px: float = 0.0,
    settings: dict[str, Any] | None = None,
) -> SegmentationResult:
    """Post-process a probability map, apply corrections, and measure the grains.

    Parameters
    ----------
    probability : float (M, N) in [0, 1]
        A network's boundary probability, or a traced boundary mask as 0/1 floats.
    post, pixel_size_um, uncertainty, model_names, strokes, snap_px, settings
        As for :func:`segmentation_from_masks`; ``post`` is run here first.

    Returns
    -------
    SegmentationResult

    Examples
    --------
    >>> p = np.zeros((9, 9), np.float32); p[4, :] = 0.8
    >>> resegment(p, post=PostprocessConfig(threshold=0.9)).n_grains
    1
    """
    prob = check_probability_map(probability, "probability")
    size = check_pixel_size(pixel_size_um)
    start = time.perf_counter()
    processed = run_postprocess(prob, post, pixel_size_um=size)
    elapsed = time.perf_counter() - start
    result = segmentation_from_masks(
        prob,
        processed.boundary,
        labels=processed.labels,
        post=post,
        pixel_size_um=size,
        uncertainty=uncertainty,
        model_names=model_names,
        strokes=strokes,
        snap_px=snap_px,
        settings=settings,
    )
    result.timings["postprocess"] = elapsed
    result.timings["total"] += elapsed
    return result
