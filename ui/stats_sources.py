"""Where the Grain statistics page gets its grains: the Segment page's result and others.

A *source* is a segmentation reduced to what statistics need: the grain table, the
boundary mask (for ASTM G) and the pixel size. The page's main source is the Segment
page's latest result (or, on a first visit, the current image segmented with the session's
settings). For comparisons, the same image's traced boundaries (bundled samples), the
image segmented by one zoo model (with the post-processing its card recommends), another
bundled sample or an uploaded image (with the session's models and settings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.samples import list_samples
from grainseg_core.zoo import list_models
from ui import state
from ui.segment_pipeline import (
    ensure_current_image,
    sample_image,
    segment_current,
)

__all__ = [
    "THIS",
    "GROUND_TRUTH",
    "UPLOAD",
    "Source",
    "main_source",
    "outdated_note",
    "source_choices",
    "build_source",
]

THIS = "This segmentation"
GROUND_TRUTH = "Ground truth (traced boundaries of this image)"
UPLOAD = "Uploaded image (segmented with the chosen models)"
_MODEL = "Model: "
_SAMPLE = "Sample: "


@dataclass(frozen=True, eq=False)
class Source:
    """Grains of one segmentation.

    Attributes
    ----------
    label : str
        Menu label.
    description : str
        Image and what produced the boundaries, in words.
    table : pandas.DataFrame
        Grain table.
    boundary : bool (M, N)
    pixel_size_um : float or None
    key : str
        Content hash of the boundary (cache key).
    """

    label: str
    description: str
    table: pd.DataFrame
    boundary: np.ndarray
    pixel_size_um: float | None
    key: str


def _from_record(label: str, rec: state.SegmentationRecord, note: str = "") -> Source:
    result = rec.result
    corrections = f", {rec.n_corrections} manual correction(s)" if rec.n_corrections else ""
    return Source(
        label=label,
        description=(
            f"{rec.image_name}: {rec.source_label}{corrections}{note} ({result.n_grains} grains)"
        ),
        table=result.grain_table,
        boundary=result.boundary,
        pixel_size_um=result.pixel_size_um,
        key=state.image_key(result.boundary),
    )


def main_source() -> Source:
    """The Segment page's latest result for the current image, or a fresh segmentation.

    Raises
    ------
    GrainsegError
        When the current image cannot be segmented (no model for an upload, a broken model).
    """
    image = ensure_current_image()
    last = state.last_segmentation()
    if last is not None and last.image_key == image.key:
        return _from_record(THIS, last)
    view = segment_current(
        image,
        model_paths=state.selected_model_paths(),
        post=state.postprocess_config(),
        tta=state.tta_mode(),
    )
    return _from_record(THIS, view.record)


def outdated_note(image: state.CurrentImage) -> str | None:
    """Why the Segment page's last result no longer matches the sidebar, or None.

    :func:`main_source` keeps showing that result (with its manual corrections) when the
    sidebar's models or pixel size change on another page; this says so.
    """
    last = state.last_segmentation()
    if last is None or last.image_key != image.key:
        return None
    changed = []
    used = [str(p) for p in last.result.settings.get("model_files", [])]
    if used != [str(p) for p in state.selected_model_paths()]:
        changed.append("the models")
    if last.result.pixel_size_um != state.effective_pixel_size(image):
        changed.append("the pixel size")
    if not changed:
        return None
    return (
        f"{' and '.join(changed).capitalize()} in the sidebar changed after this segmentation "
        "was made: open the Segment page to update it."
    )


def source_choices(image: state.CurrentImage) -> list[str]:
    """Menu labels of the sources available for ``image``."""
    choices = [THIS]
    if image.ground_truth is not None:
        choices.append(GROUND_TRUTH)
    choices += [f"{_MODEL}{m.name}" for m in list_models(state.models_root())]
    choices += [f"{_SAMPLE}{s.name}" for s in list_samples() if s.name != image.name]
    choices.append(UPLOAD)
    return choices


def build_source(
    choice: str, image: state.CurrentImage, *, upload: state.CurrentImage | None = None
) -> Source:
    """Segment (with caches) what ``choice`` names and return it as a :class:`Source`.

    Parameters
    ----------
    choice : str
        One of :func:`source_choices`.
    image : CurrentImage
        The current image.
    upload : CurrentImage, optional
        The image for :data:`UPLOAD`.

    Raises
    ------
    GrainsegError
        A source that cannot be segmented (no model, a missing upload, a broken model).
    """
    from grainseg_core.errors import InputError

    post = state.postprocess_config()
    models = state.selected_model_paths()
    tta = state.tta_mode()
    if choice == THIS:
        return main_source()
    if choice == GROUND_TRUTH:
        if image.ground_truth is None:
            raise InputError(f"'{image.name}' has no traced boundaries to compare with.")
        # Traced lines keep their shape: only the edge-grain rule is shared with the prediction.
        gt_post = PostprocessConfig(exclude_edge_grains=post.exclude_edge_grains)
        view = segment_current(image, model_paths=[], post=gt_post, record=False)
        return _from_record(choice, view.record)
    if choice.startswith(_MODEL):
        name = choice[len(_MODEL) :]
        entries = {m.name: m.path for m in list_models(state.models_root())}
        if name not in entries:
            raise InputError(f"model '{name}' is no longer in the zoo; choose another source.")
        # That model's own recommended post-processing: the session's settings belong to
        # the models chosen in the sidebar.
        own = state.postprocess_defaults([entries[name]])
        view = segment_current(
            image, model_paths=[entries[name]], post=own.config, tta=tta, record=False
        )
        return _from_record(choice, view.record, f", post-processing from {own.source}")
    if choice.startswith(_SAMPLE):
        other = sample_image(choice[len(_SAMPLE) :])
        view = segment_current(other, model_paths=models, post=post, tta=tta, record=False)
        return _from_record(choice, view.record)
    if choice == UPLOAD:
        if upload is None:
            raise InputError("upload an image to compare with (PNG, JPEG or TIFF).")
        view = segment_current(upload, model_paths=models, post=post, tta=tta, record=False)
        return _from_record(choice, view.record)
    raise InputError(f"unknown source '{choice}'; choose one from the list.")
