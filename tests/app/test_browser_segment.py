"""The app in a real browser (headless Chromium through Playwright).

What AppTest cannot drive: a file chosen through the browser's upload input, a slider
moved with the keyboard, a file downloaded through the browser, the drawing canvas, and
the navigation between pages. Every number is checked against the core's own result for
the same image and settings, so the test fails when the page shows a wrong result, not
only when it crashes. Screenshots of every page go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ._browser import TIMEOUT_MS, wait_idle

from grainseg_core.grains import GRAIN_TABLE_COLUMNS
from grainseg_core.inference import load_model, segment
from grainseg_core.io import read_image, write_image
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.resegment import resegment
from grainseg_core.samples import load_sample

pytestmark = pytest.mark.browser

PAGES = [  # (navigation label, screenshot name)
    ("Segment", "1_segment"),
    ("Grain statistics", "2_statistics"),
    ("Dataset builder", "3_dataset_builder"),
    ("Training", "4_training"),
    ("Compare models", "5_compare"),
]


def metric(page, label: str):
    """The value element of the metric called ``label`` on the page."""
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return box.get_by_test_id("stMetricValue").first


def expect_text(locator, text: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=TIMEOUT_MS)


def expect_no_exception(page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stException")).to_have_count(0)


def download(page, button: str, target: Path) -> tuple[Path, str]:
    """Click a download button once the app is idle and save the file to ``target``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        wait_idle(page)
        try:
            with page.expect_download(timeout=30_000) as info:
                page.get_by_role("button", name=button).click()
        except PlaywrightTimeout:
            # A rerun that started as the button was clicked replaces the button; click again.
            if attempt == 2:
                raise
            continue
        info.value.save_as(target)
        return target, info.value.suggested_filename
    raise AssertionError("unreachable")


def upload_micrograph(page, path: Path) -> None:
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload a micrograph")
    uploader.locator("input[type=file]").set_input_files(str(path))


@pytest.fixture(scope="module")
def default_model(temp_zoo: Path):
    return load_model(temp_zoo / "default.safetensors")


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The synthetic equiaxed sample written as a 16-bit TIFF with a pixel size."""
    image = load_sample("synthetic_equiaxed").image.astype(np.uint16) * 257
    path = tmp_path_factory.mktemp("upload") / "equiaxed16.tif"
    write_image(path, image, pixel_size_um=0.2)
    return path, image


def test_segment_upload_slider_download(
    streamlit_server, browser_page, default_model, upload_file, tmp_path, screenshot_dir
) -> None:
    page = browser_page
    page.goto(streamlit_server)
    nist = load_sample("nist_steel")
    landing = segment(nist.image, default_model, pixel_size_um=nist.pixel_size_um)
    expect_text(metric(page, "Grains"), str(landing.n_grains))

    # Upload a micrograph through the browser's file input.
    path, image = upload_file
    uploaded = segment(image, default_model, pixel_size_um=0.2)
    upload_micrograph(page, path)
    expect_text(metric(page, "Grains"), str(uploaded.n_grains))
    page.get_by_text("equiaxed16.tif").first.wait_for()
    page.get_by_text("0.2 µm/px").first.wait_for()

    # Move the threshold slider with the keyboard: 0.50 -> 0.70 in steps of 0.01.
    slider = page.get_by_test_id("stSlider").filter(has_text="Threshold").get_by_role("slider")
    slider.focus()
    for _ in range(20):
        slider.press("ArrowRight")
    expected = resegment(
        uploaded.probability, post=PostprocessConfig(threshold=0.7), pixel_size_um=0.2
    )
    assert expected.n_grains != uploaded.n_grains
    expect_text(metric(page, "Grains"), str(expected.n_grains))
    expect_no_exception(page)

    # Download the grain table through the browser and check its content.
    saved, name = download(page, "Grain table (CSV)", tmp_path / "grains.csv")
    assert name == "equiaxed16_grains.csv"
    table = pd.read_csv(saved)
    assert list(table.columns) == list(GRAIN_TABLE_COLUMNS)
    assert len(table) == expected.n_grains
    assert table["area_px"].sum() == expected.grain_table["area_px"].sum()
    np.testing.assert_allclose(table["ecd_um"], expected.grain_table["ecd_um"], rtol=1e-9)
    page.screenshot(path=str(screenshot_dir / "segment_after_upload.png"), full_page=True)


def test_manual_correction_on_the_canvas(
    streamlit_server, browser_page, tmp_path, screenshot_dir
) -> None:
    page = browser_page
    page.goto(streamlit_server)
    grains = metric(page, "Grains")
    grains.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    before = int(grains.inner_text())
    page.get_by_text("Correct boundaries by hand").click()
    page.get_by_text("straight line").click()
    wait_idle(page)
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=TIMEOUT_MS)
    canvas.scroll_into_view_if_needed()
    wait_idle(page)
    page.wait_for_timeout(500)  # Fabric.js binds its mouse handlers after the canvas appears
    box = canvas.bounding_box()
    # The NIST sample is 800 px wide: one canvas pixel is one image pixel.
    start, end = (40, 300), (760, 300)  # (x, y) in canvas pixels
    page.mouse.move(box["x"] + start[0], box["y"] + start[1])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=12)
    page.mouse.up()
    page.get_by_text("1 correction stroke(s) applied.").wait_for(timeout=TIMEOUT_MS)
    after = int(metric(page, "Grains").inner_text())
    assert after != before
    page.screenshot(path=str(screenshot_dir / "segment_correction.png"), full_page=True)

    # The drawn line is in the downloaded boundary mask, where it was drawn.
    saved, _ = download(page, "Boundary mask (PNG)", tmp_path / "mask.png")
    mask, meta = read_image(saved)
    assert meta.format == "PNG" and mask.shape == (600, 800)
    row = mask[start[1] - 2 : start[1] + 3, start[0] + 5 : end[0] - 5] > 0
    assert row.any(axis=0).all(), "the stroke is not in the mask along its whole length"


def test_every_page_opens(streamlit_server, browser_page, screenshot_dir) -> None:
    page = browser_page
    page.set_viewport_size(
        {"width": 1400, "height": 2400}
    )  # Streamlit scrolls inside: a tall window shows more
    page.goto(streamlit_server)
    metric(page, "Grains").wait_for(timeout=TIMEOUT_MS)
    for label, name in [*PAGES[1:], PAGES[0]]:
        page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()
        heading = page.get_by_test_id("stMain").locator("h1").first
        if name in ("1_segment", "2_statistics"):  # this helper's pages; others set their own
            expect_text(heading, label)
        heading.wait_for(timeout=TIMEOUT_MS)
        wait_idle(page)  # the page's run is over before the picture
        expect_no_exception(page)
        if name == "1_segment":
            page.get_by_test_id("stDownloadButton").first.wait_for(timeout=TIMEOUT_MS)
        charts = page.get_by_test_id("stPlotlyChart")
        if charts.count():  # plotly draws after its bundle loads: wait for the first plot
            charts.first.locator(".main-svg").first.wait_for(timeout=TIMEOUT_MS)
        page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)
        assert (screenshot_dir / f"{name}.png").stat().st_size > 10_000
    expect_text(page.get_by_test_id("stMain").locator("h1").first, "Segment")


def test_deep_link_on_a_fresh_server_keeps_the_sidebar(fresh_server, browser_page) -> None:
    # Streamlit runs a pages/ file alone (legacy mode) until st.navigation has run once in
    # the process; ui.navigation.ensure_navigation reruns it through app.py.
    page = browser_page
    page.goto(f"{fresh_server}/statistics")
    expect_text(page.get_by_test_id("stMain").locator("h1").first, "Grain statistics")
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_text("Compare models", exact=True).wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Models (choose several for an ensemble)").wait_for(timeout=TIMEOUT_MS)
    metric(page, "Grains in the statistics").wait_for(timeout=TIMEOUT_MS)
    expect_no_exception(page)
