"""From the current image and the session's settings to a segmentation, with caches.

Shared by the Segment page (which owns the widgets) and the Statistics page (which reuses
the result, or makes one on first load). The steps are core calls:

1. the probability map: :func:`ui.cache.probability_cached` (the network, once per image,
   models and TTA) or, with no model, the image's traced boundary as a 0/1 map;
2. post-processing: :func:`ui.cache.postprocess_cached` (once per map and settings);
3. corrections, labels and the grain table: :func:`grainseg_core.resegment.segmentation_from_masks`;
4. the headline numbers: :meth:`SegmentationResult.summary`.

The last few results are memoised in the session, so a rerun that changes nothing (a view
switch, a download click) costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from grainseg_core.corrections import Stroke
from grainseg_core.errors import ModelError
from grainseg_core.io import read_image
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.samples import list_samples, load_sample
from ui import state
from ui.cache import model_key, postprocess_cached, probability_cached

__all__ = [
    "TRACED_LABEL",
    "SegmentationView",
    "sample_image",
    "uploaded_image",
    "load_sample_image",
    "load_uploaded_image",
    "ensure_current_image",
    "probability_for",
    "segment_current",
]

#: Source label of a segmentation made from a sample's traced boundaries (no model).
TRACED_LABEL = "traced boundaries (no model)"
_MEMO = "gs_segment_memo"
#: Segmentations memoised per session (the Segment page's and a few comparison sources).
_MEMO_SIZE = 3


@dataclass(frozen=True, eq=False)
class SegmentationView:
    """A segmentation and its summary numbers, ready to show.

    Attributes
    ----------
    record : ui.state.SegmentationRecord
    summary : dict
        :meth:`SegmentationResult.summary` (grain count, ECD, aspect ratio, ASTM G).
    pixel_size_um : float or None
    pixel_size_source : str
        Where the pixel size came from, in words.
    base_boundary : bool (M, N)
        The post-processed boundary before manual corrections (the canvas background:
        it must not change when a stroke is drawn, or the canvas would reload).
    """

    record: state.SegmentationRecord
    summary: dict[str, Any]
    pixel_size_um: float | None
    pixel_size_source: str
    base_boundary: np.ndarray


def sample_image(name: str) -> state.CurrentImage:
    """A bundled sample as a :class:`~ui.state.CurrentImage` (the session is unchanged)."""
    sample = load_sample(name)
    meta = {
        "format": "PNG",
        "title": sample.info.title,
        "description": sample.info.description,
        "source": sample.info.source,
        "licence": sample.info.licence,
        "pixel_size_source": "the sample's meta.json",
    }
    return state.make_image(
        name,
        sample.image,
        meta,
        pixel_size_um=sample.pixel_size_um,
        ground_truth=sample.boundary,
        source="sample",
    )


def uploaded_image(name: str, data: bytes) -> state.CurrentImage:
    """An upload read as a :class:`~ui.state.CurrentImage` (the session is unchanged).

    Raises
    ------
    ImageReadError, UnsupportedFormatError, ImageTooLargeError
        The file is not an image grainseg reads.
    """
    image, meta = read_image(data, name=name)
    return state.make_image(name, image, meta, source="upload")


def load_sample_image(name: str) -> state.CurrentImage:
    """Make a bundled sample the current image (its traced boundary comes along)."""
    return state.set_current_record(sample_image(name))


def load_uploaded_image(name: str, data: bytes) -> state.CurrentImage:
    """Read an upload (PNG/JPEG/TIFF, 8/16 bit) and make it the current image.

    Raises
    ------
    ImageReadError, UnsupportedFormatError, ImageTooLargeError
        The file is not an image grainseg reads; the current image is unchanged.
    """
    return state.set_current_record(uploaded_image(name, data))


def ensure_current_image() -> state.CurrentImage:
    """The current image; on a session's first visit, the default bundled sample."""
    current = state.current_image()
    if current is None:
        current = load_sample_image(list_samples()[0].name)
    return current


def _pixel_size(image: state.CurrentImage) -> tuple[float | None, str]:
    override = state.pixel_size_override()
    if override is not None:
        return override, "typed in the sidebar"
    if image.pixel_size_um is not None:
        source = image.meta.get("pixel_size_source") or "the file's metadata"
        return image.pixel_size_um, str(source)
    return None, "unknown: sizes are in pixels; type a pixel size in the sidebar for µm and ASTM G"


def probability_for(
    image: state.CurrentImage, model_paths: Sequence[str | os.PathLike], *, tta: str = "none"
) -> tuple[np.ndarray, np.ndarray | None, str, tuple[str, ...]]:
    """Probability map, uncertainty, cache key and model names for ``image``.

    With no model, a bundled sample's traced boundary stands in as a 0/1 map; an upload
    without a model raises :class:`~grainseg_core.errors.ModelError` saying so.

    Returns
    -------
    probability : float32 (M, N)
    uncertainty : float32 (M, N) or None
    key : str
        Identifies the map (image hash + models + tta).
    names : tuple of str
        Model names (stems), or ``(TRACED_LABEL,)``.
    """
    if model_paths:
        prob, unc = probability_cached(image.image, list(model_paths), image_key=image.key, tta=tta)
        keys = "|".join(f"{p}@{w}:{c}" for p, w, c in (model_key(m) for m in model_paths))
        names = tuple(Path(m).stem for m in model_paths)
        return prob, unc, f"{image.key}|{keys}|{tta}", names
    if image.ground_truth is not None:
        prob = image.ground_truth.astype(np.float32)
        return prob, None, f"{image.key}|traced", (TRACED_LABEL,)
    raise ModelError(
        f"no model in the zoo ({state.models_root()}) and none uploaded, so '{image.name}' "
        "cannot be segmented: upload a .safetensors + .json model in the sidebar, or train "
        "and publish one on the Training page. The bundled samples show their traced "
        "boundaries without a model."
    )


def segment_current(
    image: state.CurrentImage,
    *,
    model_paths: Sequence[str | os.PathLike],
    post: PostprocessConfig,
    tta: str = "none",
    strokes: Sequence[Stroke] = (),
    snap_px: float = 0.0,
    record: bool = True,
) -> SegmentationView:
    """Segment ``image`` with the session's settings (cached at every step).

    Parameters
    ----------
    image : CurrentImage
    model_paths : sequence of path
        One model or an ensemble; empty = the traced boundary of a sample.
    post : PostprocessConfig
    tta : {"none", "flips", "d4"}
    strokes : sequence of Stroke
        Manual corrections.
    snap_px : float
    record : bool
        Store the result as the session's last segmentation (for other pages).

    Returns
    -------
    SegmentationView

    Raises
    ------
    GrainsegError
        A model that cannot be loaded, an upload without a model, bad settings.
    """
    from grainseg_core.resegment import segmentation_from_masks  # loads torch

    pixel, pixel_source = _pixel_size(image)
    memo_key = (
        image.key,
        tuple(model_key(p) for p in model_paths),
        tta,
        post,
        pixel,
        tuple(strokes),
        float(snap_px),
    )
    memo: dict = st.session_state.setdefault(_MEMO, {})
    view = memo.get(memo_key)
    if view is None:
        prob, unc, prob_key, names = probability_for(image, model_paths, tta=tta)
        boundary, labels, n_bridges, n_merged = postprocess_cached(
            prob, post, prob_key=prob_key, pixel_size_um=pixel
        )
        result = segmentation_from_masks(
            prob,
            boundary,
            labels=labels,
            post=post,
            pixel_size_um=pixel,
            uncertainty=unc,
            model_names=names,
            strokes=strokes,
            snap_px=snap_px,
            settings={
                "tta": tta,
                "n_bridges": n_bridges,
                "n_merged": n_merged,
                "model_files": [str(p) for p in model_paths],
            },
        )
        seg = state.SegmentationRecord(
            result=result,
            image_key=image.key,
            image_name=image.name,
            source_label=", ".join(names),
            post=post,
            tta=tta,
            n_corrections=len(strokes),
        )
        view = SegmentationView(seg, result.summary(), pixel, pixel_source, boundary)
        memo[memo_key] = view
        while len(memo) > _MEMO_SIZE:  # keep the newest few (dicts keep insertion order)
            memo.pop(next(iter(memo)))
    if record:
        state.set_last_segmentation(view.record)
    return view
