"""AppTest of the Dataset builder: first load, polygons with broken rows, wrong EBSD files,
the synthetic SEM + EBSD example through registration, and the patch export."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from grainseg_core.datasets import list_datasets

PAGE = "pages/3_dataset_builder.py"


def _png(rows: int, cols: int, value: int = 120) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (rows, cols), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


CSV = (
    b"image_url;point;polygon\n"
    b"IMG_1.png;(10, 10);[(4, 4), (20, 4), (20, 20), (4, 20)]\n"
    b"IMG_1.png;(1, 1);[(1, 1), (2, 2)]\n"
    b"../../etc/IMG_2.png;;[(30, 30), (60, 30), (60, 60), (30, 60)]\n"
    b"IMG_2.png;(x, y);[(0, 0), (1, 0), (1, 1)]\n"
)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAINSEG_DATASETS_DIR", str(tmp_path / "datasets"))
    monkeypatch.setenv("GRAINSEG_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def _frame_with(at, column: str):
    """The first st.dataframe of the page that has ``column``."""
    frames = [d.value for d in at.dataframe if column in d.value.columns]
    assert frames, f"no table with a '{column}' column"
    return frames[0]


def _open(app_test):
    at = app_test().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_page_renders_on_first_load(app_test, folders):
    at = _open(app_test)
    assert at.title[0].value == "Dataset builder"
    infos = " ".join(i.value for i in at.info)
    assert "Waiting for an annotation file" in infos and "Build masks in section (a)" in infos


def test_polygon_csv_with_broken_rows_reports_them_and_keeps_good_rows(app_test, folders):
    at = _open(app_test)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("set/IMG_2.png", _png(80, 96, 2))
        zf.writestr("../evil.png", b"x")
    at.file_uploader(key="ds_ann_file").set_value(("polys.csv", CSV, "text/csv"))
    at.file_uploader(key="ds_ann_images").set_value(
        [
            ("IMG_1.png", _png(64, 64, 1), "image/png"),
            ("more.zip", zipped.getvalue(), "application/zip"),
        ]
    )
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images with masks"] == "2"
    assert metrics["Polygons kept"] == "2"
    assert metrics["Rows rejected"] == "2"
    assert any("problem(s) in **polys.csv**" in w.value for w in at.warning)
    report = _frame_with(at, "where")
    assert report["where"].tolist()[:2] == ["line 3", "line 5"]
    assert report["problem"].str.contains("zip slip").any()
    assert any(b.label == "Download the masks (2 PNG in a zip)" for b in at.get("download_button"))
    # a later broken annotation file keeps the earlier masks
    at.file_uploader(key="ds_ann_file").set_value(("broken.json", b"{oops", "application/json"))
    at.run()
    assert not at.exception, at.exception
    assert any("not valid JSON" in e.value for e in at.error)
    assert {m.label: m.value for m in at.metric}["Polygons kept"] == "2"
    # switching pages drops the uploaders' state, not the rebuilt masks
    at.switch_page("pages/4_training.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Polygons kept"] == "2"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("scan.png", _png(32, 32), "image/png")], "no EBSD map among"),
        (
            [("map.ang", b"# EDAX\nnot numbers here\n", "text/plain")],
            "could not be read as an EBSD map",
        ),
        ([("map.cpr", b"[General]\n", "text/plain")], "'map.crc' is missing"),
    ],
)
def test_ebsd_file_of_the_wrong_kind_gives_a_clear_message(app_test, folders, files, message):
    at = _open(app_test)
    at.file_uploader(key="ds_sem_file").set_value(("sem.png", _png(128, 128), "image/png"))
    at.run()
    at.file_uploader(key="ds_ebsd_files").set_value(files)
    at.run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(message in e for e in errors), errors


def test_synthetic_example_registration_views_and_export(app_test, folders):
    at = _open(app_test)
    at.radio(key="ds_sem_source").set_value("example").run()
    assert not at.exception, at.exception
    at.button(key="ds_register").click().run()
    assert not at.exception, at.exception
    quality = _frame_with(at, "ncc")
    assert quality.loc["after", "ncc"] > quality.loc["before", "ncc"]
    charts = at.get("plotly_chart")
    assert len(charts) >= 3  # drift vectors, drift heat map, boundary widths
    labels = [m.label for m in at.metric]
    assert "Rigid part (rows, cols) px" in labels
    at.radio(key="ds_overlay_kind").set_value("checkerboard").run()
    assert not at.exception, at.exception

    # (c) export: the EBSD label is a source; one image -> random patches by default
    at.text_input(key="ds_exp_name").set_value("ebsd-demo")
    at.selectbox(key="ds_exp_size").set_value(128)
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    assert any("Exported **" in s.value for s in at.success), [e.value for e in at.error]
    (ds,) = list_datasets(folders / "datasets")
    assert (
        ds.name == "ebsd-demo"
        and ds.target == "boundary"
        and ds.patch_size == 128
        and ds.n_patches >= 12
    )
    # a path as the dataset name is refused
    at.text_input(key="ds_exp_name").set_value("../outside")
    at.form_submit_button[0].click().run()
    assert any("not a plain folder name" in e.value for e in at.error)
    assert not (folders / "outside").exists()


def test_real_ang_map_gives_a_boundary_map_with_thresholds(app_test, folders, shared_data):
    ang = shared_data / "ebsd" / "orix_sdss" / "sdss_ferrite_austenite.ang"
    at = _open(app_test)
    at.file_uploader(key="ds_sem_file").set_value(("sem.png", _png(300, 351), "image/png"))
    at.run()
    at.file_uploader(key="ds_ebsd_files").set_value([(ang.name, ang.read_bytes(), "text/plain")])
    at.run()
    assert not at.exception, at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("EBSD map:"))
    assert "100 x 117 points, step 1.5 um" in caption
    grains_default = int(caption.split(", ")[2].split()[0])
    at.toggle(key="ds_include_lagb").set_value(False).run()  # HAGB only: fewer grains
    caption = next(c.value for c in at.caption if c.value.startswith("EBSD map:"))
    assert int(caption.split(", ")[2].split()[0]) < grains_default
    at.slider(key="ds_lagb").set_value(15.0)
    at.slider(key="ds_hagb").set_value(10.0).run()  # HAGB below LAGB: the core says so
    assert any("hagb_min_deg" in e.value for e in at.error)
