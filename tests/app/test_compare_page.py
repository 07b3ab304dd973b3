"""AppTest of the Compare page: default pair, metrics, tolerance, zoos without a pair, uploads."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

PAGE = "pages/5_compare.py"


def _zoo(folder: Path, n: int) -> Path:
    """``n`` tiny random models with no zoo roles."""
    import torch

    from grainseg_core.nets import build_model, save_model

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        torch.manual_seed(10 + i)
        save_model(build_model("slim_unet", base_width=4, depth=2), folder / f"plain{i}", card={})
    return folder


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _metrics(at):
    frames = [d.value for d in at.dataframe if "precision" in d.value.columns]
    assert frames, "no metric table on the page"
    return frames[0]


def _open(app_test):
    at = app_test().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_default_pair_metrics_views_and_distributions(app_test):
    at = _open(app_test)
    assert any("Default: the comparison pair" in c.value for c in at.caption)
    assert at.selectbox(key="cmp_model_a").value == "default"
    assert at.selectbox(key="cmp_model_b").value == "alt"
    table = _metrics(at)
    assert list(table.index) == ["default", "alt"]
    for column in (
        "precision",
        "recall",
        "dice",
        "ari",
        "vi_split",
        "vi_merge",
        "grain-count error",
        "JS distance (sizes)",
    ):
        assert column in table.columns
    assert table["precision"].between(0, 1).all() and table["ari"].between(-1, 1).all()
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # two overlays and the size distributions

    # a larger tolerance can only raise recall
    before = _metrics(at)["recall"].to_numpy()
    at.slider(key="cmp_tolerance").set_value(0.0).run()
    assert not at.exception, at.exception
    exact = _metrics(at)["recall"].to_numpy()
    assert (exact <= before + 1e-12).all()

    # zooming keeps both views on one shared crop
    at.select_slider(key="cmp_zoom").set_value("25%").run()
    assert not at.exception, at.exception
    assert any("Crop rows" in c.value for c in at.caption)


def test_zoo_without_a_pair_uses_the_first_two_with_a_note(app_test, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(_zoo(tmp_path / "zoo", 2)))
    at = _open(app_test)
    assert any("no BCE / BCE + TopoLoss comparison pair" in i.value for i in at.info)
    assert list(_metrics(at).index) == ["plain0", "plain1"]


def test_zoo_with_one_model_says_so(app_test, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(_zoo(tmp_path / "zoo1", 1)))
    at = _open(app_test)
    assert any("comparing needs two" in w.value for w in at.warning)


def test_uploaded_image_and_mismatched_boundary_map(app_test):
    at = _open(app_test)
    at.radio(key="cmp_source").set_value("upload").run()
    image = np.random.default_rng(0).integers(0, 255, (96, 128), dtype=np.uint8)
    truth = np.zeros((96, 128), np.uint8)
    truth[48, :] = 255
    truth[:, 64] = 255
    at.file_uploader(key="cmp_image").set_value(("micro.png", _png(image), "image/png"))
    at.file_uploader(key="cmp_truth").set_value(("gt.png", _png(truth[:80]), "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert any("must be the same size" in e.value for e in at.error)
    at.file_uploader(key="cmp_truth").set_value(("gt.png", _png(truth), "image/png"))
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    table = _metrics(at)
    assert list(table.index) == ["default", "alt"]


@pytest.mark.parametrize("same", ["default"])
def test_same_model_twice_is_refused(app_test, same):
    at = _open(app_test)
    at.selectbox(key="cmp_model_b").set_value(same).run()
    assert any("two different models" in w.value for w in at.warning)
    assert not [d for d in at.dataframe if "precision" in d.value.columns]
