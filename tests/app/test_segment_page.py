"""Segment page through AppTest: known grain counts from the core, interactions, bad input.

Every number the page shows is checked against the core run on the same image with the
same model and settings (the temporary zoo of ``conftest.py``), so a page that renders
the wrong result fails, not only one that crashes.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from grainseg_core.corrections import Stroke
from grainseg_core.inference import load_model, segment
from grainseg_core.io import write_image
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.resegment import resegment
from grainseg_core.samples import load_sample
from ui.segment_canvas import DRAW_COLOR, ERASE_COLOR
from ui.state import image_key

EXPECTED_DOWNLOADS = [
    "Grain table (CSV)",
    "Summary (JSON)",
    "Boundary mask (PNG)",
    "Labels (TIFF)",
    "Overlay (PNG)",
]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def grains(at) -> int:
    return int(metrics(at)["Grains"])


@pytest.fixture(scope="module")
def nist():
    return load_sample("nist_steel")


@pytest.fixture(scope="module")
def models(temp_zoo: Path):
    return {name: load_model(temp_zoo / f"{name}.safetensors") for name in ("default", "alt")}


@pytest.fixture(scope="module")
def nist_default(nist, models):
    """The core's segmentation of the landing sample with the default model."""
    return segment(nist.image, models["default"], pixel_size_um=nist.pixel_size_um)


@pytest.fixture
def landed(app_test):
    at = app_test().run()
    assert not at.exception, at.exception
    return at


def test_landing_sample_is_segmented_as_the_core_does(landed, nist, nist_default) -> None:
    shown = metrics(landed)
    summary = nist_default.summary()
    assert grains(landed) == nist_default.n_grains
    assert shown["Mean ECD"] == f"{summary['mean_ecd_um']:.3g} µm"
    assert shown["Mean aspect ratio"] == f"{summary['mean_aspect_ratio']:.2f}"
    assert shown["ASTM G"] == f"{summary['astm_g']:.2f}"
    assert any("E112 intercept" in c.value for c in landed.caption)
    assert "nist_steel" in landed.markdown[0].value and "µm/px" in landed.markdown[0].value
    assert [b.label for b in landed.get("download_button")] == EXPECTED_DOWNLOADS
    captions = [c for img in landed.image for c in img.captions]
    assert any(c.startswith("Boundaries on the image (800 x 600 px shown") for c in captions), (
        captions
    )
    # Served as PNG: Streamlit would turn bytes without alpha into a JPEG (lossy lines).
    assert [im.proto.imgs[0].url.rsplit(".", 1)[-1] for im in landed.image] == ["png"]


def test_threshold_slider_changes_the_numbers(landed, nist, nist_default) -> None:
    before = grains(landed)
    landed.slider(key="seg_w_threshold").set_value(0.7).run()
    assert not landed.exception
    expected = resegment(
        nist_default.probability,
        post=PostprocessConfig(threshold=0.7),
        pixel_size_um=nist.pixel_size_um,
    )
    assert grains(landed) == expected.n_grains != before


def test_post_processing_toggles_recompute(landed, nist, nist_default) -> None:
    landed.toggle(key="seg_w_edge").set_value(True)
    landed.slider(key="seg_w_closing").set_value(2)
    landed.run()
    expected = resegment(
        nist_default.probability,
        post=PostprocessConfig(closing_radius=2, exclude_edge_grains=True),
        pixel_size_um=nist.pixel_size_um,
    )
    assert grains(landed) == expected.n_grains


def test_upload_a_16_bit_tiff_with_its_pixel_size(landed, models) -> None:
    sample = load_sample("synthetic_equiaxed")
    image16 = sample.image.astype(np.uint16) * 257
    buf = io.BytesIO()
    write_image(buf, image16, pixel_size_um=0.125, format="TIFF")
    landed.file_uploader(key="seg_w_upload").set_value(
        ("equiaxed16.tif", buf.getvalue(), "image/tiff")
    )
    landed.run()
    assert not landed.exception and not landed.error
    expected = segment(image16, models["default"], pixel_size_um=0.125)
    assert grains(landed) == expected.n_grains
    caption = landed.markdown[0].value
    assert "equiaxed16.tif" in caption and "uint16" in caption and "0.125 µm/px" in caption


def test_switch_model_and_ensemble_uncertainty(landed, nist, models) -> None:
    landed.sidebar.multiselect[0].set_value(["alt"]).run()
    alt = segment(nist.image, models["alt"], pixel_size_um=nist.pixel_size_um)
    assert grains(landed) == alt.n_grains
    assert "Mean uncertainty" not in metrics(landed)
    assert "Uncertainty (ensemble)" not in landed.radio(key="seg_w_view").options

    landed.sidebar.multiselect[0].set_value(["default", "alt"]).run()
    both = segment(nist.image, [models["default"], models["alt"]], pixel_size_um=nist.pixel_size_um)
    assert grains(landed) == both.n_grains
    assert metrics(landed)["Mean uncertainty"] == f"{both.summary()['mean_uncertainty']:.3f}"
    landed.radio(key="seg_w_view").set_value("Uncertainty (ensemble)").run()
    assert not landed.exception and not landed.error
    captions = [c for img in landed.image for c in img.captions]
    assert any(c.startswith("Uncertainty (ensemble)") for c in captions), captions


def test_corrupt_image_shows_an_error_and_keeps_the_result(landed, nist_default) -> None:
    before = metrics(landed)
    bad = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20
    landed.file_uploader(key="seg_w_upload").set_value(("broken.png", bad, "image/png")).run()
    assert not landed.exception
    assert any("broken.png" in e.value and "could not be read" in e.value for e in landed.error)
    assert metrics(landed) == before  # the sample and its numbers are still there
    assert "nist_steel" in landed.markdown[0].value


def test_pickled_model_upload_is_refused_and_nothing_is_lost(landed) -> None:
    before = metrics(landed)
    evil = pickle.dumps({"weights": [1, 2, 3]})
    landed.sidebar.file_uploader[0].set_value(
        [
            ("evil.safetensors", evil, "application/octet-stream"),
            ("evil.json", b'{"architecture": "slim_unet", "init_kwargs": {}}', "application/json"),
        ]
    ).run()
    assert not landed.exception
    errors = [e.value for e in landed.sidebar.error]
    assert errors and "pickled" in errors[0] and "'evil.safetensors'" in errors[0]
    assert landed.sidebar.multiselect[0].value == ["default"]
    assert metrics(landed) == before


def test_uploaded_model_pair_is_used(landed, temp_zoo: Path, nist, models) -> None:
    files = [
        (f"mine{suffix}", (temp_zoo / f"alt{suffix}").read_bytes(), "application/octet-stream")
        for suffix in (".safetensors", ".json")
    ]
    landed.sidebar.file_uploader[0].set_value(files).run()
    assert not landed.exception and not landed.sidebar.error
    assert landed.sidebar.multiselect[0].value == ["default", "upload: mine"]
    both = segment(nist.image, [models["default"], models["alt"]], pixel_size_um=nist.pixel_size_um)
    assert grains(landed) == both.n_grains


def test_min_size_in_um_without_pixel_size_is_a_clear_error(landed) -> None:
    image = (np.random.default_rng(0).random((96, 128)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    write_image(buf, image, format="PNG")
    landed.file_uploader(key="seg_w_upload").set_value(
        ("noscale.png", buf.getvalue(), "image/png")
    ).run()
    assert "pixel size unknown" in landed.markdown[0].value
    assert metrics(landed)["ASTM G"] == "—"
    landed.radio(key="seg_w_min_unit").set_value("µm")
    landed.number_input(key="seg_w_min_size").set_value(2.0)
    landed.run()
    assert not landed.exception
    assert any("pixel_size_um is None" in e.value for e in landed.error)
    # Typing a pixel size in the sidebar fixes it.
    landed.sidebar.number_input[0].set_value(0.5).run()
    assert not landed.error and grains(landed) >= 1


def test_manual_corrections_split_and_merge(landed, nist, nist_default) -> None:
    before = grains(landed)
    key = image_key(nist.image)
    # A straight yellow line across the middle of the 800-px-wide canvas (scale 1), then
    # a blue erase stroke: the page must give exactly what the core gives for them.
    drawing = {
        "objects": [
            {
                "type": "line",
                "x1": 10,
                "y1": 300,
                "x2": 790,
                "y2": 300,
                "left": 9,
                "top": 299,
                "strokeWidth": 3,
                "stroke": DRAW_COLOR,
            },
            {
                "type": "path",
                "path": [["M", 100, 100], ["L", 160, 140]],
                "left": 95.5,
                "top": 95.5,
                "strokeWidth": 9,
                "stroke": ERASE_COLOR,
            },
        ]
    }
    landed.session_state["seg_canvas_json"] = {key: drawing}
    landed.run()
    assert not landed.exception
    strokes = [
        Stroke(((300, 10), (300, 790)), width_px=1),
        Stroke(((100, 100), (140, 160)), mode="erase", width_px=9),
    ]
    expected = resegment(
        nist_default.probability, strokes=strokes, snap_px=3.0, pixel_size_um=nist.pixel_size_um
    )
    assert grains(landed) == expected.n_grains != before
    assert any("2 correction stroke(s) applied" in c.value for c in landed.caption)
    # The Statistics page sees the corrected result.
    landed.switch_page("pages/2_statistics.py").run()
    assert metrics(landed)["Grains in the statistics"] == str(expected.n_grains)


def test_canvas_drawing_to_strokes() -> None:
    from ui.segment_canvas import canvas_size, strokes_from_canvas

    assert canvas_size((1536, 2048)) == (800, 600, 2.56)
    drawing = {
        "objects": [
            # a free-hand stroke moved 10 px right by the edit tool (left was 18.5 as drawn)
            {
                "type": "path",
                "path": [["M", 20, 30], ["Q", 25, 35, 30, 40], ["L", 40, 40]],
                "left": 28.5,
                "top": 28.5,
                "strokeWidth": 3,
                "stroke": ERASE_COLOR,
            },
            {
                "type": "line",
                "x1": 0,
                "y1": 0,
                "x2": 10,
                "y2": 0,
                "left": -1,
                "top": -1,
                "strokeWidth": 2,
                "stroke": DRAW_COLOR,
            },
            {"type": "rect", "left": 0, "top": 0, "stroke": DRAW_COLOR},  # not a stroke
            {
                "type": "line",
                "x1": 0,
                "y1": 0,
                "x2": 5,
                "y2": 5,
                "stroke": "#000000",
            },  # other colour
        ]
    }
    erase, draw = strokes_from_canvas(drawing, scale=2.0, draw_width_px=1.0)
    assert erase.mode == "erase" and erase.width_px == 6.0
    assert erase.points == ((60.0, 60.0), (70.0, 70.0), (80.0, 80.0), (80.0, 100.0))
    assert draw.mode == "draw" and draw.width_px == 1.0
    assert draw.points == ((0.0, 0.0), (0.0, 20.0))
    assert strokes_from_canvas(None, scale=1.0) == []


def test_without_a_model_the_sample_shows_its_traced_boundaries(
    app_test, monkeypatch, tmp_path, nist
) -> None:
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(tmp_path / "empty_zoo"))
    at = app_test().run()
    assert not at.exception
    assert any("No model in the zoo" in i.value for i in at.sidebar.info)
    assert any("traced boundaries" in i.value for i in at.info)
    traced = resegment(nist.boundary.astype(np.float32), pixel_size_um=nist.pixel_size_um)
    assert grains(at) == traced.n_grains
    # An upload cannot be segmented without a model: a plain message, the app goes on.
    buf = io.BytesIO()
    write_image(buf, load_sample("synthetic_equiaxed").image, format="PNG")
    at.file_uploader(key="seg_w_upload").set_value(("mine.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert any(
        e.value.startswith("no model in the zoo") and "'mine.png'" in e.value for e in at.error
    )
    at.switch_page("pages/2_statistics.py").run()
    assert not at.exception and at.error  # the same plain message, no traceback
