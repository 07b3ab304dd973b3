"""Real browser: train a tiny model for one epoch from the Training page and see its curve."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ._browser import choose, open_page, wait_idle

from grainseg_core.patching import ImagePair, PatchConfig, export_dataset
from grainseg_core.synthetic import make_microstructure
from grainseg_core.training import list_runs, stop_run

pytestmark = pytest.mark.browser


def _export(root: Path, name: str) -> Path:
    pairs = []
    for i in range(4):
        ms = make_microstructure((128, 128), seed=200 + i, mean_grain_size_px=20)
        pairs.append(ImagePair(f"im{i}", ms.image, ms.boundary))
    out = root / name
    export_dataset(
        pairs, out, PatchConfig(size=64, val_fraction=0.25, test_fraction=0.25), overwrite=True
    )
    return out


def test_one_epoch_training_shows_its_curve(
    streamlit_server, app_env, browser_page, screenshot_dir
):
    name = f"browser-tiny-{int(time.time())}"
    _export(Path(app_env["GRAINSEG_DATASETS_DIR"]), name)
    runs_root = Path(app_env["GRAINSEG_RUNS_DIR"])
    before = {r.run_id for r in list_runs(runs_root)}
    page = browser_page
    open_page(page, streamlit_server, "Training")
    page.get_by_text("New run").wait_for()
    choose(page, "Dataset", name)
    page.get_by_role("spinbutton", name="Epochs").fill("1")
    page.get_by_role("spinbutton", name="Batch size").fill("4")
    page.get_by_text("Advanced").click()
    page.get_by_role("textbox", name="Run name").fill(name)
    page.get_by_role("textbox", name="Architecture options (JSON)").fill(
        '{"base_width": 4, "depth": 2}'
    )
    page.get_by_role("spinbutton", name="CPU threads (0 = default)").fill("1")
    page.get_by_role("button", name="Start training").click()
    try:
        page.get_by_text("started in the background").wait_for(timeout=120_000)
        # The live panel polls the run folder; when the run ends the page redraws with "finished".
        page.get_by_text("finished", exact=True).first.wait_for(timeout=240_000)
        wait_idle(page)  # the live panel then reruns the whole page once: let it settle
        epoch_chart = page.get_by_test_id("stPlotlyChart").filter(has_text="per epoch").first
        epoch_chart.wait_for()
        points = epoch_chart.locator("g.scatterlayer path.point")
        points.first.wait_for(timeout=60_000)
        assert points.count() >= 1  # at least one epoch point on the curve
        epoch_chart.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "training_finished.png"), full_page=True)
    finally:
        for info in list_runs(runs_root):
            if info.run_id not in before and info.state in ("starting", "running"):
                stop_run(info.run_dir)
    (run,) = [r for r in list_runs(runs_root) if r.run_id not in before]
    assert run.state == "finished" and run.epoch == 1 and run.name == name
