"""Compare page pieces: model pair, image with ground truth, predictions, views.

Science lives in :mod:`grainseg_core.compare` (metric and distance tables, gap closures,
crops), :mod:`grainseg_core.overlays` (confusion colours) and
:mod:`grainseg_core.compare_figures`; this module reads widgets and draws.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from grainseg_core.compare import (
    ModelComparison,
    compare_models,
    crop_bounds,
    gap_closures,
    sites_in_crop,
)
from grainseg_core.compare_figures import grain_size_overlay_figure, marked_overlay_figure
from grainseg_core.ebsd_labels import boundary_map_from_image
from grainseg_core.errors import InputError
from grainseg_core.io import read_image
from grainseg_core.overlays import confusion_overlay
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.samples import list_samples, load_sample
from grainseg_core.zoo import ZooEntry, comparison_pair, list_models
from ui import state
from ui.cache import postprocess_cached, probability_cached
from ui.dataset_display import digest
from ui.errors import user_errors
from ui.postprocess_defaults import describe_postprocess

__all__ = [
    "GroundTruthImage",
    "choose_models",
    "choose_image",
    "model_postprocess",
    "predict_boundaries",
    "comparison",
    "render_views",
    "render_tables",
]

_ZOOMS = {"100%": 1.0, "50%": 0.5, "25%": 0.25, "12.5%": 0.125}


@dataclass(frozen=True, eq=False)
class GroundTruthImage:
    """An image with its true boundary mask."""

    name: str
    image: np.ndarray
    truth: np.ndarray
    pixel_size_um: float | None
    key: str


def choose_models() -> tuple[ZooEntry, ZooEntry] | None:
    """Two zoo models, defaulting to the comparison pair (or the first two, with a note)."""
    entries = list_models(state.models_root())
    if len(entries) < 2:
        st.warning(
            f"The model zoo (`{state.models_root()}`) holds {len(entries)} model(s); comparing "
            "needs two. Train and publish another on the Training page (or point "
            "GRAINSEG_MODELS_DIR to a zoo)."
        )
        return None
    names = [e.name for e in entries]
    by_name = {e.name: e for e in entries}
    pair = comparison_pair(state.models_root())
    if pair is not None:
        default = (pair[0].name, pair[1].name)
        st.caption(
            f"Default: the comparison pair **{pair[0].title}** (BCE) vs **{pair[1].title}** "
            "(BCE + TopoLoss)."
        )
    else:
        default = (names[0], names[1])
        st.info(
            "The zoo has no BCE / BCE + TopoLoss comparison pair (cards with roles "
            "'compare_bce' and 'compare_topo'), so its first two models are shown: "
            f"**{names[0]}** and **{names[1]}**."
        )
    c1, c2 = st.columns(2)
    a = c1.selectbox(
        "Model A",
        names,
        index=names.index(default[0]),
        key="cmp_model_a",
        format_func=lambda n: by_name[n].title or n,
    )
    b = c2.selectbox(
        "Model B",
        names,
        index=names.index(default[1]),
        key="cmp_model_b",
        format_func=lambda n: by_name[n].title or n,
    )
    if a == b:
        st.warning("Choose two different models to compare.")
        return None
    return by_name[a], by_name[b]


@st.cache_data(max_entries=8, show_spinner=False)
def _sample(name: str):
    s = load_sample(name)
    return s.image, s.boundary, s.pixel_size_um


def choose_image() -> GroundTruthImage | None:
    """A bundled sample with traced boundaries, or an uploaded image + boundary map."""
    samples = [i for i in list_samples() if i.has_label]
    source = st.radio(
        "Image with ground truth",
        ["sample", "upload"],
        horizontal=True,
        key="cmp_source",
        format_func=lambda s: "Bundled sample" if s == "sample" else "Upload image + boundary map",
    )
    override = state.pixel_size_override()
    if source == "sample":
        titles = {i.name: i.title for i in samples}
        name = st.selectbox("Sample", list(titles), format_func=titles.get, key="cmp_sample")
        image, truth, px = _sample(name)
        return GroundTruthImage(name, image, truth, override or px, f"sample:{name}")
    c1, c2, c3 = st.columns([2, 2, 1])
    up_image = c1.file_uploader(
        "Micrograph", type=["png", "jpg", "jpeg", "tif", "tiff", "bmp"], key="cmp_image"
    )
    up_truth = c2.file_uploader(
        "Its boundary map (lines on a plain background)",
        type=["png", "tif", "tiff", "bmp"],
        key="cmp_truth",
    )
    colour = c3.radio("Line colour", ["auto", "white", "black"], key="cmp_truth_colour")
    if up_image is None or up_truth is None:
        st.info("Upload a micrograph and its ground-truth boundary map of the same size.")
        return None
    with user_errors("reading the image and its boundary map") as outcome:
        image, meta = read_image(up_image.getvalue(), name=up_image.name)
        truth = boundary_map_from_image(up_truth.getvalue(), name=up_truth.name, foreground=colour)
        if truth.shape != image.shape:
            raise InputError(
                f"the boundary map '{up_truth.name}' is {truth.shape[1]}x{truth.shape[0]} px but "
                f"the image '{up_image.name}' is {image.shape[1]}x{image.shape[0]} px; they must "
                "be the same size."
            )
    if outcome.failed:
        return None
    key = digest(up_image.getvalue(), up_truth.getvalue(), colour)
    return GroundTruthImage(up_image.name, image, truth, override or meta.pixel_size_um, key)


def model_postprocess(models: tuple[ZooEntry, ZooEntry]) -> dict[str, PostprocessConfig]:
    """Each model's post-processing: its card's recommendation, with a threshold control each.

    The thresholds start from the cards (a model's threshold is chosen on validation
    images when it is published), so each model is compared at its own operating point.
    """
    out: dict[str, PostprocessConfig] = {}
    notes = []
    for col, model in zip(st.columns(len(models)), models, strict=True):
        defaults = state.postprocess_defaults([model.path])
        threshold = col.slider(
            f"Threshold of {model.title or model.name}",
            0.05,
            0.95,
            min(max(float(defaults.config.threshold), 0.05), 0.95),
            0.01,
            # One slider per model and card version: a new choice starts from its card.
            key=f"cmp_threshold_{digest(defaults.key)}",
            help=f"Starts from {defaults.source}.",
        )
        out[model.name] = replace(defaults.config, threshold=float(threshold))
        notes.append(f"{model.name}: {defaults.source} ({describe_postprocess(defaults.config)})")
        if defaults.note:
            st.warning(defaults.note)
    st.caption("Post-processing of each model starts from " + "; ".join(notes) + ".")
    return out


def predict_boundaries(
    item: GroundTruthImage, models: tuple[ZooEntry, ZooEntry], posts: dict[str, PostprocessConfig]
) -> dict[str, np.ndarray]:
    """Each model's post-processed boundary mask (cached probability maps)."""
    tta = state.tta_mode()
    image_key = state.image_key(item.image)
    out = {}
    for model in models:
        with st.spinner(f"Running {model.title or model.name}..."):
            prob, _ = probability_cached(item.image, [model.path], image_key=image_key, tta=tta)
            boundary, _, _, _ = postprocess_cached(
                prob,
                posts[model.name],
                prob_key=f"{image_key}|{model.path}|{tta}",
                pixel_size_um=item.pixel_size_um,
            )
        out[model.name] = boundary
    return out


@st.cache_data(max_entries=6, show_spinner=False)
def _compare(
    key: str,
    _preds: dict[str, np.ndarray],
    _truth: np.ndarray,
    tolerance: float,
    pixel_size_um: float | None,
    min_size: int,
) -> tuple[ModelComparison, pd.DataFrame]:
    names = tuple(_preds)
    cmp = compare_models(
        _preds, _truth, tolerance_px=tolerance, pixel_size_um=pixel_size_um, min_size_px=min_size
    )
    sites = gap_closures(
        _preds[names[0]], _preds[names[1]], _truth, names=names, tolerance_px=tolerance
    )
    return cmp, sites


def comparison(
    item: GroundTruthImage,
    preds: dict[str, np.ndarray],
    posts: dict[str, PostprocessConfig],
    tolerance: float,
    min_size: int,
) -> tuple[ModelComparison, pd.DataFrame]:
    """Metric/distance tables and gap sites (cached per inputs)."""
    key = digest(item.key, *preds, repr(sorted(posts.items())), state.tta_mode())
    return _compare(key, preds, item.truth, float(tolerance), item.pixel_size_um, int(min_size))


def _crop(item: GroundTruthImage, sites: pd.DataFrame) -> tuple[int, int, int, int]:
    rows, cols = item.truth.shape
    c1, c2, c3 = st.columns([1, 2, 2])
    zoom = c1.select_slider("Zoom", list(_ZOOMS), value="100%", key="cmp_zoom")
    frac = _ZOOMS[zoom]
    options = ["manual"] + [
        f"site {i + 1}: {r.closed_by} closes {r.size_px} px at ({r.row:.0f}, {r.col:.0f})"
        for i, r in enumerate(sites.head(20).itertuples())
    ]
    target = c2.selectbox(
        "Centre on",
        options,
        key="cmp_centre",
        help="Jump to a place where one model closes a gap the other leaves open.",
    )
    if target != "manual":
        site = sites.iloc[options.index(target) - 1]
        center = (float(site["row"]), float(site["col"]))
        if frac == 1.0:
            frac = 0.25
    else:
        r = c3.slider("Centre row", 0, rows - 1, rows // 2, key="cmp_row", disabled=frac == 1.0)
        c = c3.slider("Centre column", 0, cols - 1, cols // 2, key="cmp_col", disabled=frac == 1.0)
        center = (float(r), float(c))
    return crop_bounds(
        (rows, cols), center=center, size=(max(8, round(rows * frac)), max(8, round(cols * frac)))
    )


def render_views(
    item: GroundTruthImage, preds: dict[str, np.ndarray], sites: pd.DataFrame, tolerance: float
) -> None:
    """Side-by-side confusion overlays of one shared crop, with gap-closure markers."""
    r0, r1, c0, c1 = bounds = _crop(item, sites)
    st.caption(
        "Colours: "
        + ", ".join(
            f"{k} {name}"
            for k, name in (("TP", "cyan"), ("FP", "yellow"), ("FN", "red"), ("TN", "image"))
        )
        + f" (boundary tolerance {tolerance:g} px). Green circles: gaps this model closes and "
        "the other "
        f"leaves open. Crop rows {r0}-{r1}, columns {c0}-{c1}."
    )
    names = list(preds)
    cols = st.columns(2)
    for col, name, other in zip(cols, names, names[::-1], strict=False):
        rgb = confusion_overlay(
            preds[name][r0:r1, c0:c1],
            item.truth[r0:r1, c0:c1],
            tolerance_px=tolerance,
            image=item.image[r0:r1, c0:c1],
        )
        mine = sites_in_crop(sites[sites["closed_by"] == name], bounds)
        fig = marked_overlay_figure(
            rgb,
            mine,
            title=f"{name}: {len(mine)} gap(s) closed that {other} leaves open",
            marker_name=f"{name} closes a gap {other} leaves open",
        )
        col.plotly_chart(fig, key=f"cmp_view_{name}")


def render_tables(cmp: ModelComparison, names: list[str]) -> None:
    """The metric table, the distribution overlay with JS distances, downloads."""
    table = cmp.metrics.join(cmp.distances[["js_distance", "ks_statistic"]])
    table = table.rename(
        columns={
            "js_distance": "JS distance (sizes)",
            "ks_statistic": "KS D (sizes)",
            "hd95_px": "HD95 (px)",
            "n_grains": "grains",
            "grain_count_error": "grain-count error",
        }
    )
    n_true = len(cmp.grain_tables[cmp.truth_name])
    st.markdown(f"##### Metrics against the ground truth (tolerance {cmp.tolerance_px:g} px)")
    st.dataframe(table.style.format(precision=3), width="stretch", key="cmp_metrics")
    st.caption(
        "Precision, recall and Dice count boundary pixels within the tolerance; ARI and VI "
        "(split: over-segmentation, merge: under-segmentation) compare the grains; 'grains' and "
        "the grain-count error count every grain, the size distributions below leave out grains "
        f"under the minimum size ({n_true} true grains remain)."
    )
    st.download_button(
        "Metrics (CSV)",
        data=functools.partial(table.to_csv),
        file_name="model_comparison.csv",
        mime="text/csv",
        key="cmp_dl",
        on_click="ignore",
    )
    unit = "um" if cmp.size_column.endswith("um") else "px"
    st.plotly_chart(
        grain_size_overlay_figure(cmp.sizes(), cmp.distances, x_title=f"ECD ({unit})"),
        key="cmp_sizes",
    )
