"""Segment: a micrograph in, grain boundaries, grains and grain statistics out.

Widgets -> core calls (through ``ui.segment_pipeline`` and its caches) -> render. The
network runs once per image, models and TTA; the post-processing sliders and the manual
corrections recompute from the kept probability map.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import streamlit as st

from grainseg_core.reports import (
    labels_tiff,
    mask_png,
    report_json,
    rgb_png,
    summary_report,
    table_csv,
)
from grainseg_core.samples import list_samples
from ui import state
from ui.cache import display_gray_cached
from ui.downloads import Download, download_buttons
from ui.errors import logged_message, user_errors
from ui.navigation import ensure_navigation
from ui.segment_canvas import DRAW_COLOR, ERASE_COLOR, canvas_size, strokes_from_canvas
from ui.segment_controls import postprocess_controls
from ui.segment_metrics import astm_caption, headline_metrics
from ui.segment_pipeline import (
    ensure_current_image,
    load_sample_image,
    load_uploaded_image,
    segment_current,
)
from ui.segment_views import DISPLAY_SIDE, VIEWS, render_view, screen_png, view_png

_UPLOAD_ERROR = "seg_upload_error"
_CANVAS_JSON = "seg_canvas_json"  # image key -> Fabric.js drawing
_CANVAS_NONCE = "seg_canvas_nonce"


# ----------------------------------------------------------------------------- callbacks


def _on_sample() -> None:
    name = st.session_state.get("seg_w_sample")
    if name:
        try:
            load_sample_image(name)
            st.session_state.pop(_UPLOAD_ERROR, None)
        except Exception as exc:  # noqa: BLE001 - shown on the page; the old image stays
            st.session_state[_UPLOAD_ERROR] = logged_message(exc, f"loading sample '{name}'")


def _on_upload() -> None:
    upload = st.session_state.get("seg_w_upload")
    if upload is None:
        return  # the file was removed from the widget: keep working on the current image
    try:
        load_uploaded_image(upload.name, upload.getvalue())
        st.session_state.pop(_UPLOAD_ERROR, None)
    except Exception as exc:  # noqa: BLE001 - shown on the page; the old image stays
        st.session_state[_UPLOAD_ERROR] = logged_message(exc, f"reading '{upload.name}'")


def _canvas_key() -> str:
    return f"seg_canvas_{st.session_state.get(_CANVAS_NONCE, 0)}"


def _on_canvas(image_key: str) -> None:
    value = st.session_state.get(_canvas_key()) or {}
    drawing = (value.get("drawing") or {}).get("raw") if isinstance(value, dict) else None
    st.session_state.setdefault(_CANVAS_JSON, {})[image_key] = drawing


def _on_clear_corrections(image_key: str) -> None:
    st.session_state.setdefault(_CANVAS_JSON, {}).pop(image_key, None)
    st.session_state[_CANVAS_NONCE] = st.session_state.get(_CANVAS_NONCE, 0) + 1


# ----------------------------------------------------------------------------- sections


def _source_section() -> state.CurrentImage:
    samples = list_samples()
    left, right = st.columns([1, 2])
    with left:
        st.selectbox(
            "Bundled sample",
            [s.name for s in samples],
            format_func=lambda n: next(s.title for s in samples if s.name == n),
            index=None,
            placeholder="Choose a bundled sample...",
            key="seg_w_sample",
            on_change=_on_sample,
        )
    with right:
        st.file_uploader(
            "Upload a micrograph (PNG, JPEG or TIFF; 8 or 16 bit)",
            type=["png", "jpg", "jpeg", "tif", "tiff"],
            key="seg_w_upload",
            on_change=_on_upload,
            help="The pixel size is read from SEM TIFF metadata (FEI/Thermo, Zeiss, "
            "ImageJ, resolution tags); type it in the sidebar otherwise.",
        )
    if st.session_state.get(_UPLOAD_ERROR):
        st.error(st.session_state[_UPLOAD_ERROR])
    return ensure_current_image()


def _strokes(image: state.CurrentImage):
    drawing = st.session_state.get(_CANVAS_JSON, {}).get(image.key)
    _, _, scale = canvas_size(image.shape)
    with user_errors("reading the correction strokes") as outcome:
        strokes = strokes_from_canvas(drawing, scale=scale, draw_width_px=1.0)
    return ([] if outcome.failed else strokes), max(2.0, 3.0 * scale)


def _image_caption(image: state.CurrentImage, view) -> str:
    rows, cols = image.shape
    pixel = (
        f"{view.pixel_size_um:.4g} µm/px ({view.pixel_size_source})"
        if view.pixel_size_um
        else f"pixel size {view.pixel_size_source}"
    )
    return (
        f"**{image.name}**: {cols} x {rows} px, {image.image.dtype}; {pixel}. "
        f"Boundaries from: {view.record.source_label}."
    )


def _metrics_section(view) -> None:
    metrics = headline_metrics(view.summary)
    per_row = 3  # five or six numbers in one row get cut off in the image column
    for start in range(0, len(metrics), per_row):
        for col, (label, value, help_text) in zip(
            st.columns(per_row), metrics[start : start + per_row], strict=False
        ):
            col.metric(label, value, help=help_text or None)
    st.caption(f"ASTM E112 grain size: {astm_caption(view.summary)}")


def _view_section(image: state.CurrentImage, view) -> None:
    result = view.record.result
    options = list(VIEWS if result.uncertainty is not None else VIEWS[:3])
    choice = st.radio(
        "View",
        options,
        horizontal=True,
        key="seg_w_view",
        help="The uncertainty view needs an ensemble: choose several models in the sidebar.",
    )
    with user_errors("drawing the view"):
        png, (rows, cols) = view_png(
            choice or options[0],
            image.image,
            boundary=result.boundary,
            labels=result.labels,
            probability=result.probability,
            uncertainty=result.uncertainty,
            max_side=DISPLAY_SIDE,
            gray=display_gray_cached(image.image, image_key=image.key, max_side=DISPLAY_SIDE),
        )
        st.image(
            png,
            width="stretch",
            caption=f"{choice} ({cols} x {rows} px shown; downloads are full size)",
            # Without it Streamlit takes bytes of an image without alpha for a photo and
            # re-encodes them as JPEG (lossy lines, and ~30 ms of every slider move).
            output_format="PNG",
        )


def _correction_section(image: state.CurrentImage, view, n_strokes: int) -> None:
    st.subheader("Manual correction")
    on = st.toggle(
        "Correct boundaries by hand",
        key="seg_w_correct",
        help="Draw on the image: yellow strokes add a boundary (split a grain), "
        "blue strokes remove boundary (merge grains). The statistics update at once.",
    )
    if n_strokes:
        st.caption(f"{n_strokes} correction stroke(s) applied.")
    if not on:
        return
    from streamlit_drawable_canvas import st_canvas  # registers the component on first use

    result = view.record.result
    width, height, scale = canvas_size(image.shape)
    c1, c2, c3 = st.columns([2, 2, 1])
    mode = c1.radio(
        "Tool",
        ["Draw boundary (split)", "Erase boundary (merge)"],
        horizontal=True,
        key="seg_w_tool",
    )
    shape = c2.radio(
        "Stroke",
        ["freedraw", "line"],
        horizontal=True,
        key="seg_w_stroke",
        format_func=lambda s: "free hand" if s == "freedraw" else "straight line",
    )
    brush = c3.slider("Brush (px)", 1, 25, 3 if mode.startswith("Draw") else 9, key="seg_w_brush")
    c3.button("Clear all", on_click=_on_clear_corrections, args=(image.key,), key="seg_w_clear")
    # The uncorrected boundaries: a background that changed with every stroke would reload
    # the canvas and send its state again (one more rerun per stroke).
    background = render_view(
        VIEWS[0],
        image.image,
        boundary=view.base_boundary,
        labels=result.labels,
        probability=result.probability,
        max_side=width,
    )
    from PIL import Image

    st_canvas(
        stroke_width=brush,
        stroke_color=DRAW_COLOR if mode.startswith("Draw") else ERASE_COLOR,
        background_image=Image.fromarray(background),
        initial_drawing=st.session_state.get(_CANVAS_JSON, {}).get(image.key),
        update_streamlit=True,
        height=height,
        width=width,
        drawing_mode=shape,
        key=_canvas_key(),
        on_change=partial(_on_canvas, image.key),
    )
    st.caption(
        f"Canvas {width} x {height} px; one canvas pixel is {scale:.2g} image pixels. "
        "Draw strokes are cut 1 px wide and snapped to a boundary within a few pixels."
    )


def _downloads_section(image: state.CurrentImage, view) -> None:
    result = view.record.result
    stem = Path(image.name).stem or "micrograph"

    def report() -> bytes:
        return report_json(
            summary_report(
                result,
                image_name=image.name,
                pixel_size_source=view.pixel_size_source,
                extra={
                    "boundaries_from": view.record.source_label,
                    "manual_corrections": view.record.n_corrections,
                },
            )
        )

    def overlay() -> bytes:
        from grainseg_core.overlays import boundary_overlay

        return rgb_png(boundary_overlay(image.image, result.boundary))

    st.subheader("Downloads")
    files = [
        Download(
            "Grain table (CSV)",
            partial(table_csv, result.grain_table),
            f"{stem}_grains.csv",
            "text/csv",
        ),
        Download("Summary (JSON)", report, f"{stem}_summary.json", "application/json"),
        Download(
            "Boundary mask (PNG)",
            partial(mask_png, result.boundary),
            f"{stem}_boundary.png",
            "image/png",
        ),
        Download(
            "Labels (TIFF)", partial(labels_tiff, result.labels), f"{stem}_labels.tif", "image/tiff"
        ),
        Download("Overlay (PNG)", overlay, f"{stem}_overlay.png", "image/png"),
    ]
    download_buttons(files, key_prefix="seg_dl_", per_row=len(files))


# ----------------------------------------------------------------------------- page

ensure_navigation()
st.title("Segment")
st.caption(
    "Upload an SEM micrograph (or take a bundled sample): grain boundaries, grains and "
    "grain statistics at once. Sliders re-use the network's probability map."
)

image = _source_section()
models = state.selected_model_paths()
@st.fragment
def _results(image: state.CurrentImage, models: list) -> None:
    """Controls, results, corrections and downloads: a slider move reruns only this part
    (not the sidebar and the source section), which the browser then redraws."""
    controls, main = st.columns([1, 3], gap="large")
    with controls:
        post, tta = postprocess_controls()
    strokes, snap = _strokes(image)

    view = None
    with main:
        if not models and image.ground_truth is not None:
            st.info(
                f"No model in the zoo ({state.models_root()}): showing the sample's traced "
                "boundaries, post-processed with your settings. Upload or publish a model "
                "to segment images."
            )
        if post is not None:
            with user_errors("segmenting the image"):
                with st.spinner(
                    f"Segmenting {image.name} with {len(models) or 'no'} model(s)...", show_time=True
                ):
                    view = segment_current(
                        image, model_paths=models, post=post, tta=tta, strokes=strokes, snap_px=snap
                    )
        if view is None:
            last = state.last_segmentation()
            if last is not None:
                st.caption(
                    f"Earlier results are kept: the last segmentation ({last.image_name}, "
                    f"{last.result.n_grains} grains) is still on the Grain statistics page."
                )
            shown = display_gray_cached(image.image, image_key=image.key, max_side=DISPLAY_SIDE)
            st.image(screen_png(shown), width="stretch", caption=image.name, output_format="PNG")
        else:
            st.markdown(_image_caption(image, view))
            _metrics_section(view)
            _view_section(image, view)

    if view is not None:
        _correction_section(image, view, len(strokes))
        _downloads_section(image, view)
        # A toggle, not an expander: an expander's table is sent to the browser on every rerun.
        if st.toggle(f"Show the grain table ({view.record.result.n_grains} grains)", key="seg_w_table"):
            st.dataframe(view.record.result.grain_table, hide_index=True, width="stretch")


_results(image, models)
