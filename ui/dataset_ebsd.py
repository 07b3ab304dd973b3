"""Dataset builder, section (b): SEM image + EBSD map (or boundary-map image) -> corrected label.

Core calls: :func:`grainseg_core.ebsd_labels.read_ebsd_files` (uploaded map, wrong kinds
told plainly), :func:`grainseg_core.ebsd.classify_boundaries` (misorientation thresholds,
twins), :func:`grainseg_core.ebsd_labels.correct_label` (registration with a progress bar),
:mod:`grainseg_core.drift` (overlays, vectors, magnitude, widths) and
:mod:`grainseg_core.drift_figures`. The corrected label is kept in the session for export.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from grainseg_core.drift import (
    boundary_width_summary,
    boundary_width_table,
    drift_magnitude,
    drift_summary,
    drift_vectors,
    sem_label_overlay,
)
from grainseg_core.drift_figures import (
    boundary_width_figure,
    drift_heatmap_figure,
    drift_vector_figure,
)
from grainseg_core.ebsd import GBConfig, classify_boundaries
from grainseg_core.ebsd_labels import (
    CorrectedLabel,
    boundary_map_from_image,
    correct_label,
    read_ebsd_files,
)
from grainseg_core.io import read_image
from grainseg_core.overlays import label_overlay
from grainseg_core.registration import RegistrationConfig
from grainseg_core.reports import labels_tiff, mask_png
from ui import state
from ui.dataset_annotations import IMAGE_TYPES
from ui.dataset_display import digest, show_image
from ui.errors import user_errors

__all__ = ["EBSD_RESULT", "EBSDRecord", "ebsd_record", "render_ebsd_section"]

#: Session key of the last corrected label (:class:`EBSDRecord`).
EBSD_RESULT = "ds_ebsd_result"
_SEM_SOURCES = {
    "upload": "Upload an SEM image",
    "current": "The current image (Segment page)",
    "example": "Synthetic example (SEM image + drifted EBSD boundary map)",
}
_LABEL_SOURCES = {
    "ebsd": "EBSD map file (.ang, .ctf, .h5, .cpr + .crc)",
    "image": "Boundary-map image",
}
_OVERLAYS = {
    "blend": "Blend",
    "checkerboard": "Checkerboard",
    "edges": "Edges",
    "false_color": "False colour",
}


@dataclass(frozen=True, eq=False)
class EBSDRecord:
    """A corrected label with the inputs it came from."""

    key: str
    sem_name: str
    sem: np.ndarray
    label_name: str
    result: CorrectedLabel


def ebsd_record() -> EBSDRecord | None:
    """The session's corrected label, if any (for the export section)."""
    return st.session_state.get(EBSD_RESULT)


@st.cache_data(max_entries=4, show_spinner=False)
def _example(seed: int = 7):
    from grainseg_core.synthetic import make_microstructure

    ms = make_microstructure((384, 512), seed=seed, mean_grain_size_px=36)
    return ms.image, ms.ebsd.boundary, ms.pixel_size_um


@st.cache_resource(max_entries=4, show_spinner=False)
def _read_map(key: str, _files: dict[str, bytes]):
    # A resource, not data: the EBSDMap is read-only and shared, never pickled.
    return read_ebsd_files(_files)


@st.cache_resource(max_entries=8, show_spinner=False)
def _classify(map_key: str, config_key: str, _ebsd, _config: GBConfig):
    return classify_boundaries(_ebsd, config=_config)


def _sem_input() -> tuple[str, np.ndarray, float | None] | None:
    options = list(_SEM_SOURCES)
    if state.current_image() is None:
        options.remove("current")
    source = st.radio(
        "SEM image", options, format_func=_SEM_SOURCES.get, key="ds_sem_source", horizontal=True
    )
    if source == "example":
        image, _, px = _example()
        return "synthetic_example.png", image, px
    if source == "current":
        cur = state.current_image()
        return cur.name, cur.image, state.effective_pixel_size(cur)
    up = st.file_uploader(
        "SEM micrograph (PNG, TIFF, JPEG; 8/16-bit)", type=IMAGE_TYPES, key="ds_sem_file"
    )
    if up is None:
        return None
    with user_errors("reading the SEM image") as outcome:
        image, meta = read_image(up.getvalue(), name=up.name)
    if outcome.failed:
        return None
    px = state.pixel_size_override() or meta.pixel_size_um
    return up.name, image, px


def _label_input(sem_source: str) -> tuple[str, np.ndarray, float | None, str] | None:
    """(name, boundary map on its own grid, its pixel size or step, cache key)."""
    if sem_source == "example":
        _, boundary, px = _example()
        st.caption(
            "The example's EBSD boundary map is drifted against the SEM image by a known "
            "rigid shift plus a smooth non-rigid field."
        )
        return "synthetic_ebsd_boundary.png", boundary, px, "example"
    source = st.radio(
        "Label from",
        list(_LABEL_SOURCES),
        format_func=_LABEL_SOURCES.get,
        key="ds_label_source",
        horizontal=True,
    )
    if source == "image":
        up = st.file_uploader(
            "Boundary-map image (lines on a plain background)", type=IMAGE_TYPES, key="ds_gb_file"
        )
        c1, c2 = st.columns(2)
        colour = c1.radio(
            "Boundary colour", ["auto", "white", "black"], horizontal=True, key="ds_gb_colour"
        )
        px = c2.number_input(
            "Map pixel size (um, 0 = same grid as the SEM image)",
            value=0.0,
            min_value=0.0,
            format="%.4f",
            key="ds_gb_px",
        )
        if up is None:
            return None
        with user_errors("reading the boundary map") as outcome:
            boundary = boundary_map_from_image(up.getvalue(), name=up.name, foreground=colour)
        if outcome.failed:
            return None
        return up.name, boundary, px or None, digest(up.getvalue(), colour)
    ups = st.file_uploader(
        "EBSD map: one .ang, .ctf or .h5 file, or the .cpr and .crc files of an Oxford map",
        accept_multiple_files=True,
        key="ds_ebsd_files",
    )
    c1, c2, c3, c4 = st.columns(4)
    lagb = c1.slider("LAGB from (deg)", 0.5, 15.0, 2.0, 0.5, key="ds_lagb")
    hagb = c2.slider("HAGB from (deg)", 5.0, 65.0, 15.0, 0.5, key="ds_hagb")
    twins = c3.toggle(
        "Twins (Σ3) are boundaries",
        value=True,
        key="ds_twins",
        help="Off: Σ3 twin boundaries are not drawn and grains continue across them.",
    )
    include_lagb = c4.toggle("Draw low-angle boundaries", value=True, key="ds_include_lagb")
    if not ups:
        return None
    files = {f.name: f.getvalue() for f in ups}
    key = digest(*files, *files.values())
    with st.spinner("Reading the EBSD map..."), user_errors("reading the EBSD map") as outcome:
        ebsd = _read_map(key, files)
        config = GBConfig(
            lagb_min_deg=lagb,
            hagb_min_deg=hagb,
            twins="separate" if twins else "exclude",
            include_lagb=include_lagb,
        )
        gb = _classify(key, repr(config), ebsd, config)
    if outcome.failed:
        return None
    step = float(ebsd.step_size_um[0])
    st.caption(
        f"EBSD map: {ebsd.shape[0]} x {ebsd.shape[1]} points, step {step:g} um, "
        f"{gb.n_grains} grains, {100 * gb.boundary.mean():.1f}% boundary pixels."
    )
    left, right = st.columns(2)
    with left:
        show_image(gb.boundary.astype(np.uint8) * 255, caption="EBSD boundary map (white)")
    with right:
        show_image(label_overlay(gb.grain_labels), caption="EBSD grains")
    name = next(
        n for n in files if n.lower().endswith((".ang", ".ctf", ".h5", ".hdf5", ".h5ebsd", ".cpr"))
    )
    return name, gb.boundary, step, digest(key, repr(config))


def _register(sem_name, sem, sem_px, label_name, boundary, label_px, local: bool, key: str) -> None:
    bar = st.progress(0.0, text="Registering...")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Registering: stage {done} of {total}")

    both = sem_px is not None and label_px is not None
    result = correct_label(
        sem,
        boundary,
        sem_pixel_size_um=sem_px if both else None,
        ebsd_step_um=label_px if both else None,
        config=RegistrationConfig(local=local),
        progress=progress,
    )
    bar.empty()
    st.session_state[EBSD_RESULT] = EBSDRecord(key, sem_name, sem, label_name, result)


@st.cache_data(max_entries=4, show_spinner=False)
def _widths(
    key: str, _before: np.ndarray, _corrected: np.ndarray, pixel_size_um: float | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Skeleton widths of two full-size maps: computed once per corrected label, not per rerun.
    table = boundary_width_table(_before, corrected=_corrected, pixel_size_um=pixel_size_um)
    table["map"] = table["map"].replace({"label": "before"})
    summary = boundary_width_summary(_before, corrected=_corrected, pixel_size_um=pixel_size_um)
    return table, summary


def _draw(record: EBSDRecord) -> None:
    res, reg = record.result, record.result.registration
    px = res.pixel_size_um
    for w in reg.warnings:
        st.warning(w)
    q = reg.quality_table()
    st.markdown("##### Alignment quality")
    st.dataframe(q, width="stretch", key="ds_quality")
    st.markdown("##### Overlay of the label on the SEM image")
    c1, c2, c3 = st.columns(3)
    kind = c1.radio(
        "View", list(_OVERLAYS), format_func=_OVERLAYS.get, horizontal=True, key="ds_overlay_kind"
    )
    alpha = c2.slider(
        "Blend (label weight)",
        0.0,
        1.0,
        0.5,
        0.05,
        key="ds_overlay_alpha",
        disabled=kind not in ("blend", "edges"),
    )
    tile = c3.slider(
        "Checkerboard tile (px)",
        8,
        256,
        64,
        8,
        key="ds_overlay_tile",
        disabled=kind != "checkerboard",
    )
    left, right = st.columns(2)
    with left:
        show_image(
            sem_label_overlay(record.sem, res.before, kind=kind, alpha=alpha, tile=tile),
            caption="Before drift correction",
        )
    with right:
        show_image(
            sem_label_overlay(record.sem, res.corrected, kind=kind, alpha=alpha, tile=tile),
            caption="After drift correction",
        )
    st.markdown("##### Drift")
    summ = drift_summary(res.drift, pixel_size_um=px)
    m1, m2, m3, m4 = st.columns(4)
    unit = "um" if px else "px"
    m1.metric(
        "Rigid part (rows, cols) px", f"{summ['mean_d_row_px']:+.1f}, {summ['mean_d_col_px']:+.1f}"
    )
    m2.metric(f"Mean |drift| ({unit})", f"{summ['mean_' + unit]:.2f}")
    m3.metric(f"95th pct ({unit})", f"{summ['p95_' + unit]:.2f}")
    m4.metric(f"Max ({unit})", f"{summ['max_' + unit]:.2f}")
    shape = res.corrected.shape
    step = max(16, min(shape) // 12)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            drift_vector_figure(drift_vectors(res.drift, step=step, pixel_size_um=px), shape),
            key="ds_drift_vectors",
        )
    with right:
        # theme=None: keep the figure's own colour scale (the app theme would replace it).
        st.plotly_chart(
            drift_heatmap_figure(drift_magnitude(res.drift), pixel_size_um=px),
            key="ds_drift_heat",
            theme=None,
        )
    st.markdown("##### Boundary width")
    table, summary = _widths(record.key, res.before, res.corrected, px)
    left, right = st.columns([2, 1])
    with left:
        st.plotly_chart(boundary_width_figure(table), key="ds_widths")
    with right:
        st.dataframe(summary.rename(index={"label": "before"}), width="stretch")
    stem = record.sem_name.rsplit(".", 1)[0]
    d1, d2, d3 = st.columns(3)
    d1.download_button(
        "Corrected label (PNG)",
        data=functools.partial(mask_png, res.corrected),
        file_name=f"{stem}_label.png",
        mime="image/png",
        key="ds_dl_label",
        on_click="ignore",
    )
    d2.download_button(
        "Grain labels (16-bit TIFF)",
        data=functools.partial(labels_tiff, res.labels),
        file_name=f"{stem}_grains.tif",
        mime="image/tiff",
        key="ds_dl_grains",
        on_click="ignore",
    )
    d3.download_button(
        "Uncorrected label (PNG)",
        data=functools.partial(mask_png, res.before),
        file_name=f"{stem}_label_raw.png",
        mime="image/png",
        key="ds_dl_raw",
        on_click="ignore",
    )


def render_ebsd_section() -> None:
    """Inputs, registration and every view of the corrected label."""
    sem = _sem_input()
    sem_source = st.session_state.get("ds_sem_source", "upload")
    label = _label_input(sem_source) if sem is not None else None
    record = ebsd_record()
    if sem is None or label is None:
        if record is None:
            st.info(
                "Choose an SEM image and its EBSD map (or the synthetic example) to register them."
            )
            return
        st.caption(f"Showing the last corrected label ({record.sem_name} + {record.label_name}).")
        _draw(record)
        return
    sem_name, sem_image, sem_px = sem
    label_name, boundary, label_px, label_key = label
    c1, c2 = st.columns(2)
    sem_px = (
        c1.number_input(
            "SEM pixel size (um, 0 = unknown)",
            value=float(sem_px or 0.0),
            min_value=0.0,
            format="%.5f",
            key=f"ds_sem_px_{digest(sem_name)}",
        )
        or None
    )
    local = c2.toggle("Correct local (non-rigid) drift", value=True, key="ds_local")
    key = digest(
        sem_name, state.image_key(sem_image), label_key, repr(sem_px), repr(label_px), repr(local)
    )
    current = record is not None and record.key == key
    if st.button(
        "Register and correct the drift", type="primary", key="ds_register", disabled=current
    ):
        with user_errors("registering the label to the SEM image"):
            _register(sem_name, sem_image, sem_px, label_name, boundary, label_px, local, key)
        record = ebsd_record()
    if record is None:
        return
    if record.key != key:
        st.caption(
            f"Showing the last corrected label ({record.sem_name} + {record.label_name}); "
            "press the button to register the current inputs."
        )
    _draw(record)
