"""Real browser: the Dataset builder, Training and Compare pages work and are screenshotted."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ._browser import open_page, upload

pytestmark = pytest.mark.browser

CSV = (
    b"image_url;point;polygon\n"
    b"IMG_1.png;(20, 20);[(8, 8), (40, 8), (40, 40), (8, 40)]\n"
    b"IMG_1.png;(1, 1);[(1, 1), (2, 2)]\n"
    b"IMG_1.png;;[(60, 50), (90, 50), (90, 80), (60, 80)]\n"
)


def _png(rows: int, cols: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(60, 200, (rows, cols), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_dataset_builder_in_the_browser(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    open_page(page, streamlit_server, "Dataset builder")
    page.get_by_role("heading", name="Dataset builder").wait_for()
    page.screenshot(path=str(screenshot_dir / "dataset_builder.png"))

    # (a) a polygon CSV with a broken row, and its image
    upload(page, "ds_ann_file", [{"name": "polys.csv", "mimeType": "text/csv", "buffer": CSV}])
    upload(page, "ds_ann_images",
           [{"name": "IMG_1.png", "mimeType": "image/png", "buffer": _png(96, 128)}])
    page.get_by_text("problem(s) in", exact=False).wait_for()
    rejected = page.get_by_test_id("stMetric").filter(has_text="Rows rejected")
    assert rejected.get_by_test_id("stMetricValue").inner_text().strip() == "1"
    kept = page.get_by_test_id("stMetric").filter(has_text="Polygons kept")
    assert kept.get_by_test_id("stMetricValue").inner_text().strip() == "2"
    page.get_by_text("line 3").first.wait_for(state="attached")  # grid cells are drawn on a canvas
    page.get_by_role(
        "button", name="Download the masks (1 PNG in a zip)"
    ).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "dataset_builder_polygons.png"))

    # (b) the synthetic SEM + EBSD example through registration
    page.get_by_role("tab", name="(b) SEM + EBSD → label").click()
    page.get_by_text("Synthetic example (SEM image + drifted EBSD boundary map)").click()
    page.get_by_role("button", name="Register and correct the drift").click()
    page.get_by_text("Alignment quality").wait_for()
    page.get_by_text("Before drift correction").first.wait_for()
    drift = page.get_by_test_id("stPlotlyChart").filter(has_text="Drift vectors").first
    drift.wait_for()
    drift.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "dataset_builder_ebsd.png"))

    # (c) the EBSD label is offered for export
    page.get_by_role("tab", name="(c) Export patches").click()
    page.get_by_role("button", name="Export patches").wait_for()
    for source in (
        "EBSD label of synthetic_example.png (drift corrected)",
        "Polygon masks from polys.csv (1 image)",
    ):
        box = page.get_by_role("checkbox", name=source)
        assert box.is_checked()  # every source built so far is offered and ticked
    page.screenshot(path=str(screenshot_dir / "dataset_builder_export.png"))


def test_training_page_in_the_browser(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    open_page(page, streamlit_server, "Training")
    page.get_by_role("heading", name="Training").wait_for()
    page.get_by_role("heading", name="Runs").wait_for()
    # either the form (a dataset exists) or the plain note that one must be built first
    assert page.get_by_text("New run").count() + page.get_by_text("No dataset yet").count() >= 1
    page.screenshot(path=str(screenshot_dir / "training.png"))


def test_compare_page_in_the_browser(streamlit_server, browser_page, screenshot_dir):
    page = browser_page
    open_page(page, streamlit_server, "Compare models")
    page.get_by_text("Metrics against the ground truth").wait_for(timeout=180_000)
    charts = page.get_by_test_id("stPlotlyChart")
    charts.nth(2).wait_for()
    assert charts.count() == 3
    assert page.get_by_text("JS distance to the ground truth").count() >= 1
    page.screenshot(path=str(screenshot_dir / "compare.png"))
    page.get_by_text("Metrics against the ground truth").scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "compare_metrics.png"))
