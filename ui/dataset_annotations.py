"""Dataset builder, section (a): polygon annotations + images -> masks, report, download.

Uploads are gathered with :func:`grainseg_core.archives.collect_files` (several files or
zips; base names only, unsafe or oversized zip members refused), read tolerantly with
:func:`grainseg_core.rebuild.read_annotation_file` and rasterised with
:func:`grainseg_core.rebuild.rebuild_masks`. The result is kept in the session (keyed by
the uploads' content), so switching pages or a failed later upload loses nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from grainseg_core.archives import collect_files, masks_zip
from grainseg_core.overlays import boundary_overlay
from grainseg_core.rebuild import RebuiltMasks, read_annotation_file, rebuild_masks
from ui.dataset_display import digest, show_image
from ui.errors import user_errors

__all__ = ["REBUILT", "IMAGE_TYPES", "RebuiltRecord", "rebuilt_record", "render_annotation_section"]

#: Session key of the last rebuilt masks (:class:`RebuiltRecord`).
REBUILT = "ds_rebuilt"
#: Image file types offered by the uploaders (zips are unpacked).
IMAGE_TYPES = ["png", "jpg", "jpeg", "tif", "tiff", "bmp"]


@dataclass(frozen=True, eq=False)
class RebuiltRecord:
    """Rebuilt masks with the key of the uploads they came from and the upload notes."""

    key: str
    result: RebuiltMasks
    notes: tuple[str, ...]
    annotation_name: str


def rebuilt_record() -> RebuiltRecord | None:
    """The session's rebuilt masks, if any (for the export section)."""
    return st.session_state.get(REBUILT)


def _rebuild(
    ann_name: str, ann_bytes: bytes, uploads: list[tuple[str, bytes]], target: str, key: str
) -> None:
    bundle = collect_files(uploads)
    images = {k: f.data for k, f in bundle.with_suffix(*[f".{t}" for t in IMAGE_TYPES]).items()}
    others = [k for k in bundle.files if k not in images]
    notes = list(bundle.notes) + [f"'{k}' skipped: not an image file." for k in others]
    ann = read_annotation_file(ann_bytes, name=ann_name)
    result = rebuild_masks(ann, images, target=target)
    st.session_state[REBUILT] = RebuiltRecord(key, result, tuple(notes), ann_name)


def _draw(record: RebuiltRecord) -> None:
    res = record.result
    report = res.report
    if record.notes:
        extra = pd.DataFrame(
            {"source": "upload", "where": "", "field": "file", "problem": list(record.notes)}
        )
        report = pd.concat([report, extra], ignore_index=True)
    rows_rejected = res.n_rejected
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Images with masks", len(res.masks))
    c2.metric("Polygons kept", int(res.summary["n_polygons"].sum()))
    c3.metric("Rows rejected", rows_rejected)
    c4.metric("Other problems", len(report) - rows_rejected)
    if len(report):
        st.warning(
            f"{len(report)} problem(s) in **{record.annotation_name}** and the images: the rows "
            "and "
            "images listed below were left out; everything else was kept."
        )
        st.dataframe(report, hide_index=True, width="stretch", key="ds_ann_report")
    else:
        st.success("Every row was read and every image matched.")
    with st.expander("Per-image summary", expanded=False):
        st.dataframe(res.summary, hide_index=True, width="stretch")
    names = list(res.masks)
    shown = st.selectbox("Image", names, key="ds_ann_show")
    image, mask = res.images[shown], res.masks[shown]
    left, right = st.columns(2)
    with left:
        alpha = 0.45 if res.target == "mask" else 1.0
        show_image(
            boundary_overlay(image, mask, color=(255, 40, 40), alpha=alpha),
            caption=f"{shown}: reconstructed {res.target} over the image",
        )
    with right:
        show_image(mask.astype("uint8") * 255, caption=f"{res.target} (white)")
    st.download_button(
        f"Download the masks ({len(names)} PNG in a zip)",
        data=functools.partial(masks_zip, res.masks, suffix=f"_{res.target}"),
        file_name="masks.zip",
        mime="application/zip",
        key="ds_ann_download",
        on_click="ignore",
    )


def render_annotation_section() -> None:
    """Uploaders, target choice, the rebuilt masks and their report."""
    st.markdown(
        "Upload an annotation file and the images it names. Images are matched to the "
        "annotations by **file name only** (folders and URLs in the file are ignored)."
    )
    c1, c2 = st.columns(2)
    ann_file = c1.file_uploader(
        "Annotation file: polygon CSV (image_url;point;polygon) or COCO JSON",
        type=["csv", "json", "txt"],
        key="ds_ann_file",
    )
    uploads = c2.file_uploader(
        "Images (several files, or a zip of them)",
        type=[*IMAGE_TYPES, "zip"],
        accept_multiple_files=True,
        key="ds_ann_images",
    )
    target = st.radio(
        "Label to build",
        ["mask", "boundary"],
        horizontal=True,
        key="ds_ann_target",
        format_func=lambda t: (
            "filled polygons (particles)" if t == "mask" else "polygon outlines (boundaries)"
        ),
    )
    record = rebuilt_record()
    if ann_file is not None and uploads:
        files = [(f.name, f.getvalue()) for f in uploads]
        key = digest(
            ann_file.name,
            ann_file.getvalue(),
            target,
            *[n for n, _ in files],
            *[b for _, b in files],
        )
        if record is None or record.key != key:
            with (
                st.spinner("Rebuilding the masks..."),
                user_errors("rebuilding the masks") as outcome,
            ):
                _rebuild(ann_file.name, ann_file.getvalue(), files, target, key)
            if outcome.failed and record is not None:
                st.caption("Showing the masks rebuilt from the earlier upload.")
            record = rebuilt_record()
    elif record is None:
        st.info("Waiting for an annotation file and its images.")
        return
    if record is not None:
        _draw(record)
