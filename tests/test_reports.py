"""In-memory downloads: strict JSON, CSV, PNG masks and overlays, label TIFFs, tables."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from grainseg_core.astm import intercept_grain_size, planimetric_grain_size
from grainseg_core.distributions import fit_distribution
from grainseg_core.errors import InputError
from grainseg_core.io import read_image
from grainseg_core.reports import (
    fits_table,
    grain_size_table,
    jsonable,
    labels_tiff,
    mask_png,
    report_json,
    rgb_png,
    summary_report,
    table_csv,
)
from grainseg_core.resegment import resegment


def _result():
    p = np.zeros((61, 61), np.float32)
    p[::10, :] = 1.0
    p[:, ::10] = 1.0
    return resegment(p, pixel_size_um=2.0, model_names=("tiny",), settings={"tta": "none"})


def test_summary_report_round_trips_as_strict_json() -> None:
    r = _result()
    report = summary_report(
        r, image_name="grid.png", pixel_size_source="typed in", extra={"note": "x"}
    )
    data = json.loads(report_json(report))
    assert data["image"] == {"name": "grid.png", "shape": [61, 61]}
    assert data["models"] == ["tiny"]
    assert data["figures"]["n_grains"] == 36
    assert data["figures"]["mean_ecd_um"] == pytest.approx(2 * np.sqrt(4 * 81 / np.pi))
    assert data["settings"]["tta"] == "none"
    assert data["settings"]["corrections"]["n_strokes"] == 0
    assert data["pixel_size_source"] == "typed in" and data["note"] == "x"
    with pytest.raises(InputError, match="extra entry 'models' would replace"):
        summary_report(r, image_name="g", extra={"models": []})


def test_jsonable_and_report_json_write_nan_as_null() -> None:
    assert jsonable({"a": np.array([1.0, np.nan])}) == {"a": [1.0, None]}
    assert b"NaN" not in report_json({"x": float("nan")})


def test_table_csv() -> None:
    text = table_csv(pd.DataFrame({"label": [1], "ecd_um": [np.nan]})).decode()
    assert text.splitlines() == ["label,ecd_um", "1,"]
    with pytest.raises(InputError, match="DataFrame"):
        table_csv([1, 2])


def test_mask_png_and_labels_tiff_read_back_exactly() -> None:
    r = _result()
    mask, meta = read_image(mask_png(r.boundary))
    assert meta.format == "PNG"
    np.testing.assert_array_equal(mask > 0, r.boundary)
    labels, meta = read_image(labels_tiff(r.labels))
    assert meta.format == "TIFF" and labels.dtype == np.uint16
    np.testing.assert_array_equal(labels, r.labels)


def test_labels_tiff_beyond_16_bits() -> None:
    import tifffile

    lab = np.arange(70_000, dtype=np.int32).reshape(280, 250)
    back = tifffile.imread(io.BytesIO(labels_tiff(lab)))
    assert back.dtype == np.uint32
    np.testing.assert_array_equal(back, lab)


def test_rgb_png_is_lossless() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(rgb_png(rgb))))
    np.testing.assert_array_equal(back, rgb)
    with pytest.raises(InputError, match=r"uint8 array of shape \(M, N, 3\)"):
        rgb_png(np.zeros((4, 4), np.uint8))


def test_fits_and_grain_size_tables() -> None:
    t = fits_table(
        [
            fit_distribution([1.0, 2.0, 4.0, 8.0], "exponential"),
            fit_distribution([1.0, 2.0, 4.0, 8.0], "lognormal"),
        ]
    )
    assert t["family"].tolist() == ["exponential", "lognormal"]
    assert t.loc[0, "scale"] == pytest.approx(3.75)
    assert {"aic", "ks_statistic", "ks_pvalue", "mean", "s"} <= set(t.columns)
    b = _result().boundary
    g = grain_size_table(
        [intercept_grain_size(b, pixel_size_um=2.0), planimetric_grain_size(b, pixel_size_um=2.0)]
    )
    assert g["method"].tolist() == ["intercept", "planimetric"]
    assert np.isfinite(g["G"]).all()
    assert g.loc[0, "mean_intercept_um"] == pytest.approx(20.0, rel=0.15)
