"""Grain statistics page through AppTest: numbers equal the core's on the same grains."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from grainseg_core.astm import InterceptConfig, area_grain_size, intercept_grain_size
from grainseg_core.distributions import compare_samples, filter_min_size
from grainseg_core.inference import load_model, segment
from grainseg_core.io import write_image
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.resegment import resegment
from grainseg_core.samples import load_sample

PAGE = "pages/2_statistics.py"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(scope="module")
def nist():
    return load_sample("nist_steel")


@pytest.fixture(scope="module")
def prediction(nist, temp_zoo: Path):
    return segment(
        nist.image, load_model(temp_zoo / "default.safetensors"), pixel_size_um=nist.pixel_size_um
    )


@pytest.fixture(scope="module")
def truth(nist):
    """The sample's traced boundaries as the page's ground-truth source builds them."""
    return resegment(
        nist.boundary.astype(np.float32), post=PostprocessConfig(), pixel_size_um=nist.pixel_size_um
    )


@pytest.fixture
def stats(app_test):
    at = app_test().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_first_load_uses_the_segmentation_and_fits(stats, prediction) -> None:
    shown = metrics(stats)
    assert shown["Grains in the statistics"] == str(prediction.n_grains)
    headers = [h.value for h in stats.header]
    assert headers == [
        "Size and shape distributions",
        "Minimum-size filters",
        "Compare two sources",
        "ASTM grain size",
        "Downloads",
    ]
    fits = stats.dataframe[0].value
    assert fits["family"].tolist() == ["exponential", "lognormal", "beta"]
    assert not stats.error


def test_min_size_filter_matches_the_core(stats, prediction) -> None:
    stats.selectbox(key="stats_w_min").set_value(7).run()
    expected = len(filter_min_size(prediction.grain_table, 7))
    assert metrics(stats)["Grains in the statistics"] == str(expected)
    assert expected < prediction.n_grains


def test_ground_truth_vs_prediction_comparison(stats, prediction, truth) -> None:
    assert stats.selectbox(key="stats_w_source_b").value.startswith("Ground truth")
    expected = compare_samples(
        prediction.grain_table["ecd_um"], truth.grain_table["ecd_um"], family="exponential"
    )
    shown = metrics(stats)
    assert shown["JS distance, sizes"] == f"{expected.js_pdf:.3f}"
    assert shown["KS p-value, sizes"] == f"{expected.ks.pvalue:.3g}"
    ar = compare_samples(
        prediction.grain_table["aspect_ratio"],
        truth.grain_table["aspect_ratio"],
        family="aspect_ratio",
    )
    assert shown["JS distance, shapes"] == f"{ar.js_pdf:.3f}"


def test_two_models_comparison(stats, nist, temp_zoo: Path, prediction) -> None:
    stats.selectbox(key="stats_w_source_b").set_value("Model: alt").run()
    assert not stats.exception and not stats.error
    alt = segment(
        nist.image, load_model(temp_zoo / "alt.safetensors"), pixel_size_um=nist.pixel_size_um
    )
    expected = compare_samples(prediction.grain_table["ecd_um"], alt.grain_table["ecd_um"])
    assert metrics(stats)["JS distance, sizes"] == f"{expected.js_pdf:.3f}"


def test_astm_methods_and_fields(stats, nist, prediction) -> None:
    shown = metrics(stats)
    g = intercept_grain_size(prediction.boundary, pixel_size_um=nist.pixel_size_um).G
    assert shown["G (intercept)"] == f"{g:.2f}"
    assert {"G (planimetric)", "G (area)"} <= set(shown)
    stats.number_input(key="stats_w_rows").set_value(2)
    stats.number_input(key="stats_w_cols").set_value(3)
    stats.selectbox(key="stats_w_pattern").set_value("grid")
    stats.run()
    assert not stats.exception
    g6 = intercept_grain_size(
        prediction.boundary,
        pixel_size_um=nist.pixel_size_um,
        config=InterceptConfig(pattern="grid"),
        fields=(2, 3),
    ).G
    area = area_grain_size(prediction.boundary, pixel_size_um=nist.pixel_size_um, fields=(2, 3)).G
    shown = metrics(stats)
    assert shown["G (intercept)"] == f"{g6:.2f}" and shown["G (area)"] == f"{area:.2f}"
    table = next(d.value for d in stats.dataframe if "method" in d.value.columns)
    assert table["n_fields"].tolist() == [6, 6, 6]


def test_no_pixel_size_means_pixels_and_no_astm(app_test) -> None:
    at = app_test().run()
    image = (np.random.default_rng(1).random((80, 120)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    write_image(buf, image, format="PNG")
    at.file_uploader(key="seg_w_upload").set_value(("plain.png", buf.getvalue(), "image/png")).run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any("ASTM G needs the pixel size" in i.value for i in at.info)
    assert "Sizes in px" in at.caption[0].value
    # Source B defaults to another model here (an upload has no ground truth).
    assert at.selectbox(key="stats_w_source_b").value == "Model: default"


def test_downloads_are_offered(stats) -> None:
    labels = [b.label for b in stats.get("download_button")]
    assert labels[:4] == ["Grain table (CSV)", "Fits (CSV)", "ASTM G (CSV)", "Comparison (JSON)"]
    assert "Size histogram (HTML)" in labels and "Aspect ratio cdf (HTML)" in labels


def test_a_sidebar_change_after_the_segmentation_is_pointed_out(stats, prediction) -> None:
    assert not [i for i in stats.info if "changed after this segmentation" in i.value]
    stats.sidebar.multiselect[0].set_value(["alt"]).run()
    notes = [i.value for i in stats.info if "changed after this segmentation" in i.value]
    assert notes == [
        "The models in the sidebar changed after this segmentation was made: open the "
        "Segment page to update it."
    ]
    # The numbers are still those of the Segment page's result, not silently another model's.
    assert metrics(stats)["Grains in the statistics"] == str(prediction.n_grains)
    stats.sidebar.multiselect[0].set_value(["default"])
    stats.sidebar.number_input[0].set_value(0.25)
    stats.run()
    notes = [i.value for i in stats.info if "changed after this segmentation" in i.value]
    assert notes and notes[0].startswith("The pixel size in the sidebar changed")
