"""Grain statistics: distributions with fits, size filters, comparisons, ASTM grain size.

Widgets -> core calls (``grainseg_core.distributions``, ``figures``, ``fit_figures``,
``astm``, ``reports``) -> render. The grains come from the Segment page's latest result
(see ``ui.stats_sources``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd
import streamlit as st

from grainseg_core.distributions import (
    MIN_SIZE_FILTERS_PX,
    SIZE_FAMILIES,
    compare_samples,
    filter_min_size,
    fit_aspect_ratio,
    fit_distribution,
    sizes_by_min_size,
    summary_statistics,
    unit_aspect_ratio,
)
from grainseg_core.figures import (
    aspect_ratio_distribution_figure,
    cdf_comparison_figure,
    histograms_figure,
    size_distribution_figure,
)
from grainseg_core.fit_figures import cdf_with_fits_figure
from grainseg_core.reports import fits_table, grain_size_table, report_json, table_csv
from ui import state
from ui.cache import grain_size_cached
from ui.downloads import Download, download_buttons
from ui.errors import user_errors
from ui.navigation import ensure_navigation
from ui.segment_pipeline import ensure_current_image, uploaded_image
from ui.stats_sources import (
    THIS,
    UPLOAD,
    Source,
    build_source,
    main_source,
    outdated_note,
    source_choices,
)

_FAMILY_NAMES = {"exponential": "exponential", "lognormal": "log-normal", "gamma": "gamma"}


def _size_column(source: Source) -> tuple[str, str]:
    """(grain-table column, unit label) of the ECD: µm when the pixel size is known."""
    return ("ecd_um", "µm") if source.pixel_size_um else ("ecd_px", "px")


def _filtered(source: Source, min_px: float) -> pd.DataFrame:
    return filter_min_size(source.table, min_px) if min_px else source.table


def _html(fig) -> bytes:
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


# ----------------------------------------------------------------------------- sections


def _distribution_section(
    source: Source, table: pd.DataFrame, families: list[str], bins: int
) -> dict:
    column, unit = _size_column(source)
    sizes = table[column].to_numpy(dtype=float)
    ars = table["aspect_ratio"].to_numpy(dtype=float)
    out: dict = {"figures": {}, "fits": []}
    left, right = st.columns(2)
    with left, user_errors("fitting the size distribution"):
        fig = size_distribution_figure(sizes, unit=unit, families=families, bins=bins)
        st.plotly_chart(fig, width="stretch", key="stats_size_hist")
        size_fits = (
            [fit_distribution(sizes[sizes > 0], f, variable=f"ecd ({unit})") for f in families]
            if (sizes > 0).sum() >= 3
            else []
        )
        cdf = cdf_with_fits_figure(
            sizes,
            fits=size_fits,
            x_title=f"equivalent circle diameter ({unit})",
            title="Cumulative size distribution",
        )
        st.plotly_chart(cdf, width="stretch", key="stats_size_cdf")
        out["figures"].update(size_histogram=fig, size_cdf=cdf)
        out["fits"] += size_fits
    with right, user_errors("fitting the aspect-ratio distribution"):
        fig = aspect_ratio_distribution_figure(ars, bins=bins)
        st.plotly_chart(fig, width="stretch", key="stats_ar_hist")
        ar_fits = [fit_aspect_ratio(ars)] if ars.size >= 3 else []
        cdf = cdf_with_fits_figure(
            ars,
            fits=ar_fits,
            aspect_ratio=True,
            x_title="aspect ratio (minor / major axis)",
            title="Cumulative shape distribution",
        )
        st.plotly_chart(cdf, width="stretch", key="stats_ar_cdf")
        out["figures"].update(aspect_ratio_histogram=fig, aspect_ratio_cdf=cdf)
        out["fits"] += ar_fits
    if out["fits"]:
        st.markdown("**Fitted distributions** (maximum likelihood; lower AIC fits better)")
        st.dataframe(fits_table(out["fits"]), hide_index=True, width="stretch")
    with user_errors("summarising the sizes"):
        stats = pd.DataFrame(
            [
                {"variable": f"ECD ({unit})", **summary_statistics(sizes).to_dict()},
                {"variable": "aspect ratio (major / minor)", **summary_statistics(ars).to_dict()},
            ]
        )
        st.dataframe(stats, hide_index=True, width="stretch")
        out["summary"] = stats
    return out


def _filters_section(source: Source) -> None:
    column, unit = _size_column(source)
    with user_errors("applying the size filters"):
        samples = sizes_by_min_size(source.table, MIN_SIZE_FILTERS_PX, value_column=column)
        named = {f"ECD ≥ {s} px": v for s, v in samples.items()}
        st.plotly_chart(
            histograms_figure(
                named,
                x_title=f"equivalent circle diameter ({unit})",
                title="Minimum grain diameter of 3, 7 and 11 px (seed 000)",
            ),
            width="stretch",
            key="stats_filters",
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "minimum ECD (px)": s,
                        "grains": v.size,
                        f"mean ECD ({unit})": v.mean() if v.size else None,
                    }
                    for s, v in samples.items()
                ]
            ),
            hide_index=True,
            width="stretch",
        )


def _compare_section(image: state.CurrentImage, main: Source, min_px: float) -> dict | None:
    choices = source_choices(image)
    c1, c2, c3 = st.columns(3)
    first = c1.selectbox("Source A", choices, index=0, key="stats_w_source_a")
    default_b = 1 if len(choices) > 1 else 0
    second = c2.selectbox("Source B", choices, index=default_b, key="stats_w_source_b")
    family = c3.selectbox(
        "Size distribution family",
        list(SIZE_FAMILIES),
        key="stats_w_family",
        format_func=lambda f: _FAMILY_NAMES.get(f, f),
    )
    upload = None
    if UPLOAD in (first, second):
        file = st.file_uploader(
            "Image to compare (PNG, JPEG, TIFF)",
            type=["png", "jpg", "jpeg", "tif", "tiff"],
            key="stats_w_upload",
        )
        if file is not None:
            with user_errors(f"reading '{file.name}'"):
                upload = uploaded_image(file.name, file.getvalue())
    sources = []
    for choice in (first, second):
        with user_errors(f"preparing '{choice}'") as outcome:
            with st.spinner(f"Segmenting {choice}...", show_time=True):
                sources.append(
                    main if choice == THIS else build_source(choice, image, upload=upload)
                )
        if outcome.failed:
            return None
    a, b = sources
    ta, tb = _filtered(a, min_px), _filtered(b, min_px)
    column = "ecd_um" if a.pixel_size_um and b.pixel_size_um else "ecd_px"
    unit = "µm" if column == "ecd_um" else "px"
    st.caption(f"A: {a.description}  \nB: {b.description}")
    report: dict = {"source_a": a.description, "source_b": b.description, "min_ecd_px": min_px}
    with user_errors("comparing the distributions"):
        size_cmp = compare_samples(
            ta[column].to_numpy(float), tb[column].to_numpy(float), family=family
        )
        ar_cmp = compare_samples(
            ta["aspect_ratio"].to_numpy(float),
            tb["aspect_ratio"].to_numpy(float),
            family="aspect_ratio",
        )
        rows = []
        for what, cmp_ in (
            (f"ECD ({unit}), {family} fits", size_cmp),
            ("aspect ratio, Beta fits", ar_cmp),
        ):
            rows.append(
                {
                    "variable": what,
                    "JS distance (fits)": cmp_.js_pdf,
                    "JS distance (histograms)": cmp_.js_histogram,
                    "KS D": cmp_.ks.statistic,
                    "KS p-value": cmp_.ks.pvalue,
                    "n A": cmp_.ks.n_a,
                    "n B": cmp_.ks.n_b,
                }
            )
        m = st.columns(4)
        m[0].metric(
            "JS distance, sizes",
            f"{size_cmp.js_pdf:.3f}",
            help="Jensen-Shannon distance of the fitted PDFs (base 2): 0 identical, 1 disjoint.",
        )
        m[1].metric(
            "KS p-value, sizes",
            f"{size_cmp.ks.pvalue:.3g}",
            help="Two-sample Kolmogorov-Smirnov test.",
        )
        m[2].metric("JS distance, shapes", f"{ar_cmp.js_pdf:.3f}")
        m[3].metric("KS p-value, shapes", f"{ar_cmp.ks.pvalue:.3g}")
        table = pd.DataFrame(rows)
        st.dataframe(table, hide_index=True, width="stretch")
        report["comparisons"] = rows
    names = (f"A: {a.label}", f"B: {b.label}")
    left, right = st.columns(2)
    with left, user_errors("drawing the size CDFs"):
        st.plotly_chart(
            cdf_comparison_figure(
                ta[column],
                tb[column],
                names=names,
                family=family,
                x_title=f"equivalent circle diameter ({unit})",
            ),
            width="stretch",
            key="stats_cmp_size",
        )
    with right, user_errors("drawing the shape CDFs"):
        st.plotly_chart(
            cdf_comparison_figure(
                unit_aspect_ratio(ta["aspect_ratio"]),
                unit_aspect_ratio(tb["aspect_ratio"]),
                names=names,
                family="beta",
                x_title="aspect ratio (minor / major axis)",
            ),
            width="stretch",
            key="stats_cmp_shape",
        )
    return report


def _astm_section(source: Source) -> pd.DataFrame | None:
    if not source.pixel_size_um:
        st.info("ASTM G needs the pixel size: type it in the sidebar (µm per pixel).")
        return None
    c1, c2, c3, c4 = st.columns(4)
    rows = c1.number_input("Field rows", 1, 10, 1, key="stats_w_rows")
    cols = c2.number_input(
        "Field columns",
        1,
        10,
        1,
        key="stats_w_cols",
        help="E112 wants at least 5 fields for a confidence interval.",
    )
    pattern = c3.selectbox(
        "Intercept pattern",
        ["e112", "grid", "circles"],
        key="stats_w_pattern",
        help="E112 Fig. 5 lines and circles, parallel lines, or the three circles.",
    )
    area = c4.selectbox("Planimetric test area", ["circle", "rectangle"], key="stats_w_area")
    results, notes = [], []
    fields = (int(rows), int(cols))
    options = {"intercept": {"pattern": pattern}, "planimetric": {"test_area": area}, "area": {}}
    with st.spinner("Measuring ASTM grain size...", show_time=True):
        for method, opts in options.items():
            with user_errors(f"measuring G by the {method} method") as outcome:
                results.append(
                    grain_size_cached(
                        source.boundary,
                        method,
                        boundary_key=source.key,
                        pixel_size_um=source.pixel_size_um,
                        fields=fields,
                        **opts,
                    )
                )
            if outcome.failed:
                notes.append(method)
    if not results:
        return None
    table = grain_size_table(results)
    m = st.columns(len(results))
    for col, r in zip(m, results, strict=True):
        col.metric(
            f"G ({r.method})",
            f"{r.G:.2f}" if r.G == r.G else "—",
            help=f"95 % interval {r.G_ci95[0]:.2f} to {r.G_ci95[1]:.2f}"
            if r.n_fields > 1
            else None,
        )
    st.dataframe(table, hide_index=True, width="stretch")
    for r in results:
        for w in r.warnings:
            st.warning(f"{r.method}: {w}")
    with st.expander("Field values"):
        st.dataframe(
            pd.DataFrame({r.method: pd.Series(r.field_values) for r in results}), width="stretch"
        )
    return table


def _downloads(source: Source, table: pd.DataFrame, dist: dict, astm_table, comparison) -> None:
    stem = Path(ensure_current_image().name).stem or "micrograph"
    files = [
        Download(
            "Grain table (CSV)",
            partial(table_csv, table),
            f"{stem}_grains_filtered.csv",
            "text/csv",
        )
    ]
    if dist.get("fits"):
        fits = partial(table_csv, fits_table(dist["fits"]))
        files.append(Download("Fits (CSV)", fits, f"{stem}_fits.csv", "text/csv"))
    if astm_table is not None:
        files.append(
            Download("ASTM G (CSV)", partial(table_csv, astm_table), f"{stem}_astm.csv", "text/csv")
        )
    if comparison is not None:
        files.append(
            Download(
                "Comparison (JSON)",
                partial(report_json, comparison),
                f"{stem}_comparison.json",
                "application/json",
            )
        )
    for name, fig in dist.get("figures", {}).items():
        files.append(
            Download(
                f"{name.replace('_', ' ').capitalize()} (HTML)",
                partial(_html, fig),
                f"{stem}_{name}.html",
                "text/html",
            )
        )
    st.caption("Figures download as interactive HTML (plotly, works offline).")
    download_buttons(files, key_prefix="stats_dl_", per_row=4)


# ----------------------------------------------------------------------------- page

ensure_navigation()
st.title("Grain statistics")
image = ensure_current_image()
source = None
with user_errors("segmenting the current image"):
    with st.spinner("Segmenting the current image...", show_time=True):
        source = main_source()

if source is not None:
    unit = "µm" if source.pixel_size_um else "px"
    st.caption(
        f"Grains of {source.description}. Sizes in {unit}"
        + (
            f" ({source.pixel_size_um:.4g} µm/px)."
            if source.pixel_size_um
            else "; type a pixel size in the sidebar for µm and ASTM G."
        )
        + " Change the segmentation on the Segment page."
    )
    note = outdated_note(image)
    if note:
        st.info(note)
    c1, c2, c3 = st.columns(3)
    min_px = c1.selectbox(
        "Minimum grain diameter (ECD, px)",
        [0, *MIN_SIZE_FILTERS_PX],
        key="stats_w_min",
        format_func=lambda s: "none" if s == 0 else f"{s} px",
        help="Seed 000 compares 3, 7 and 11 px: grains smaller than this are left out.",
    )
    families = c2.multiselect(
        "Size fits",
        list(SIZE_FAMILIES),
        default=["exponential", "lognormal"],
        key="stats_w_families",
        format_func=lambda f: _FAMILY_NAMES.get(f, f),
    )
    bins = c3.slider("Histogram bins", 10, 100, 40, key="stats_w_bins")
    table = _filtered(source, min_px)
    st.metric(
        "Grains in the statistics",
        f"{len(table)}",
        help=f"of {len(source.table)} grains; the size filter drops the rest",
    )

    st.header("Size and shape distributions")
    dist = _distribution_section(source, table, families, bins)
    st.header("Minimum-size filters")
    _filters_section(source)
    st.header("Compare two sources")
    comparison = _compare_section(image, source, float(min_px))
    st.header("ASTM grain size")
    astm_table = _astm_section(source)
    st.header("Downloads")
    _downloads(source, table, dist, astm_table, comparison)
