"""Tests of the grainseg CLI: predict, stats, export-dataset round trips and error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from grainseg_core import cli
from grainseg_core.io import read_image, write_image, write_mask
from grainseg_core.nets import build_model, save_model
from grainseg_core.samples import load_sample
from grainseg_core.synthetic import make_microstructure


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    net = build_model("slim_unet", base_width=4, depth=2)
    with torch.no_grad():
        net.head.weight *= 50  # a random head gives a flat map; stretch it for Otsu
    weights, _ = save_model(net, tmp_path_factory.mktemp("models") / "tiny", card={})
    return weights


@pytest.fixture(scope="module")
def image_path(tmp_path_factory) -> Path:
    sample = load_sample("nist_steel")
    path = tmp_path_factory.mktemp("images") / "steel.png"
    write_image(path, sample.image[:300, :400])
    return path


@pytest.fixture()
def otsu(tmp_path) -> Path:
    path = tmp_path / "post.json"
    path.write_text(json.dumps({"threshold_method": "otsu"}))
    return path


def run_error(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit 2 and exactly one 'grainseg: error:' line; return it."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("grainseg: error: ")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


# ----------------------------------------------------------------------------- predict


def test_predict_writes_every_file(capsys, tmp_path, model_path, image_path, otsu):
    out = tmp_path / "out"
    argv = ["predict", str(image_path), "--model", str(model_path), "--out", str(out),
            "--pixel-size-um", "0.5", "--post-config", str(otsu)]
    assert cli.main(argv) == 0
    assert "steel.png:" in capsys.readouterr().err
    files = sorted(p.name for p in out.iterdir())
    assert files == ["steel_boundary.png", "steel_grains.csv", "steel_labels.tif",
                     "steel_summary.json"]
    boundary, _ = read_image(out / "steel_boundary.png")
    labels, _ = read_image(out / "steel_labels.tif")
    table = pd.read_csv(out / "steel_grains.csv")
    summary = json.loads((out / "steel_summary.json").read_text())
    assert boundary.shape == labels.shape == (300, 400)
    assert set(np.unique(boundary).tolist()) <= {0, 255}
    assert not labels[boundary > 0].any()
    assert summary["n_grains"] == len(table) == int(labels.max()) > 1
    assert summary["pixel_size_um"] == 0.5 and summary["pixel_size_source"] == "argument"
    assert summary["mean_ecd_um"] == pytest.approx(table["ecd_um"].mean())
    assert summary["median_ecd_um"] == pytest.approx(table["ecd_um"].median())
    assert summary["mean_aspect_ratio"] == pytest.approx(table["aspect_ratio"].mean())
    assert "astm_g" in summary and summary["models"] == ["tiny"]
    assert summary["settings"]["postprocess"]["threshold_method"] == "otsu"
    assert summary["image"] == str(image_path)


def test_predict_an_ensemble_with_threshold_and_probability(capsys, tmp_path, model_path,
                                                            image_path):
    out = tmp_path / "out"
    argv = ["predict", str(image_path), "--model", str(model_path), "--model", str(model_path),
            "--out", str(out), "--threshold", "0.45", "--tta", "flips", "--save-probability"]
    assert cli.main(argv) == 0
    summary = json.loads((out / "steel_summary.json").read_text())
    assert summary["models"] == ["tiny", "tiny"] and summary["mean_uncertainty"] == 0.0
    assert summary["settings"]["postprocess"]["threshold"] == 0.45
    assert summary["settings"]["tta_passes"] == 4
    assert summary["mean_ecd_um"] is None and summary["astm_g"] is None  # no pixel size
    prob, _ = read_image(out / "steel_probability.tif")
    assert prob.dtype == np.float32 and prob.shape == (300, 400)
    assert (out / "steel_uncertainty.tif").is_file()


def test_predict_ensemble_takes_the_default_and_its_partner(capsys, tmp_path, model_path, image_path,
                                                            monkeypatch):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for name, roles in (("main", ["default"]), ("partner", ["ensemble"]), ("other", [])):
        net = build_model("slim_unet", base_width=4, depth=2)
        save_model(net, zoo / name, card={"zoo": {"roles": roles}})
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(zoo))
    out = tmp_path / "out"
    assert cli.main(["predict", str(image_path), "--ensemble", "--out", str(out)]) == 0
    assert json.loads((out / "steel_summary.json").read_text())["models"] == ["main", "partner"]


def test_predict_starts_from_the_post_processing_the_card_recommends(capsys, tmp_path, model_path,
                                                                     image_path, otsu):
    carded = tmp_path / "carded.safetensors"
    carded.write_bytes(model_path.read_bytes())
    card = json.loads(model_path.with_suffix(".json").read_text())
    card["postprocess"] = {"threshold": 0.3, "skeletonize": True}
    carded.with_suffix(".json").write_text(json.dumps(card))

    def post_of(*extra: str) -> dict:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        argv = ["predict", str(image_path), "--model", str(carded), "--out", str(out), *extra]
        assert cli.main(argv) == 0
        return json.loads((out / "steel_summary.json").read_text())["settings"]["postprocess"]

    default = post_of()
    assert default["threshold"] == 0.3 and default["skeletonize"] is True
    assert post_of("--threshold", "0.6") | {"threshold": 0.3} == default  # only the threshold moves
    replaced = post_of("--post-config", str(otsu))  # a file replaces the recommendation
    assert replaced["threshold_method"] == "otsu" and replaced["skeletonize"] is False


def test_predict_errors_are_one_line(capsys, tmp_path, model_path, image_path, monkeypatch):
    out = str(tmp_path / "out")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    line = run_error(capsys, ["predict", str(corrupt), "--model", str(model_path), "--out", out])
    assert "corrupt.png" in line
    pickled = tmp_path / "model.pt"
    torch.save(build_model("slim_unet", base_width=4, depth=2).state_dict(), pickled)
    line = run_error(capsys, ["predict", str(image_path), "--model", str(pickled), "--out", out])
    assert "pickled PyTorch file" in line
    line = run_error(capsys, ["predict", str(tmp_path / "none.png"), "--model",
                              str(model_path), "--out", out])
    assert "does not exist" in line
    line = run_error(capsys, ["predict", str(image_path), "--model",
                              str(tmp_path / "missing.safetensors"), "--out", out])
    assert "not found" in line
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"treshold": 0.3}))
    line = run_error(capsys, ["predict", str(image_path), "--model", str(model_path),
                              "--out", out, "--post-config", str(bad)])
    assert "unknown keys ['treshold']" in line
    bad.write_text("{not json")
    line = run_error(capsys, ["predict", str(image_path), "--model", str(model_path),
                              "--out", out, "--post-config", str(bad)])
    assert "is not valid JSON" in line
    line = run_error(capsys, ["predict", str(image_path), "--model", str(model_path),
                              "--out", out, "--threshold", "1.5"])
    assert "threshold" in line
    line = run_error(capsys, ["predict", str(image_path), "--model", str(model_path),
                              "--out", out, "--pixel-size-um", "-2"])
    assert "pixel_size_um must be a positive" in line
    other = tmp_path / "b"
    other.mkdir()
    write_image(other / "steel.png", np.zeros((32, 32), np.uint8))
    line = run_error(capsys, ["predict", str(image_path), str(other / "steel.png"), "--model",
                              str(model_path), "--out", out])
    assert "share the name ['steel']" in line
    monkeypatch.setattr("grainseg_core.inference.DEFAULT_MODEL_PATH", tmp_path / "no.safetensors")
    line = run_error(capsys, ["predict", str(image_path), "--out", out])
    assert "pass --model" in line
    line = run_error(capsys, ["predict", str(image_path), "--ensemble", "--model", str(model_path),
                              "--out", out])
    assert "either --ensemble or --model" in line
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(model_path.parent))  # one model, no partner
    line = run_error(capsys, ["predict", str(image_path), "--ensemble", "--out", out])
    assert "no ensemble partner" in line and "repeat --model" in line


def test_the_installed_entry_point_prints_one_line_without_traceback(tmp_path, model_path):
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00" * 20)
    proc = subprocess.run(
        [sys.executable, "-m", "grainseg_core", "predict", str(corrupt), "--model",
         str(model_path), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("grainseg: error: ")
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- stats


def test_stats_of_a_known_grid(capsys, tmp_path):
    boundary = np.zeros((101, 121), bool)
    boundary[::20, :] = True
    boundary[:, ::20] = True
    boundary[-1, :] = boundary[:, -1] = True
    path = tmp_path / "grid.png"
    write_mask(path, boundary)
    assert cli.main(["stats", str(path), "--pixel-size-um", "2", "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    table = pd.read_csv(tmp_path / "grid_grains.csv")
    assert printed == json.loads((tmp_path / "grid_stats.json").read_text())
    assert printed["n_grains"] == len(table) == 5 * 6
    assert (table["area_px"] == 19 * 19).all()
    assert printed["mean_ecd_um"] == pytest.approx(2 * np.sqrt(4 * 361 / np.pi))
    assert printed["astm_g"] is not None and np.isfinite(printed["astm_g"])
    # Dark lines on white, read with --invert, give the same grains.
    write_mask(tmp_path / "dark.png", ~boundary)
    assert cli.main(["stats", str(tmp_path / "dark.png"), "--invert", "--out",
                     str(tmp_path)]) == 0
    dark = json.loads(capsys.readouterr().out)
    assert dark["n_grains"] == 30 and dark["astm_g"] is None and dark["astm_note"]
    assert cli.main(["stats", str(path), "--exclude-edge", "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["n_grains"] == 30  # all framed by lines


def test_stats_errors_are_one_line(capsys, tmp_path):
    line = run_error(capsys, ["stats", str(tmp_path / "none.png")])
    assert "does not exist" in line
    path = tmp_path / "b.png"
    write_mask(path, np.eye(16, dtype=bool))
    line = run_error(capsys, ["stats", str(path), "--pixel-size-um", "0"])
    assert "--pixel-size-um must be a positive" in line
    line = run_error(capsys, ["stats", str(path), "--min-size-px", "-1"])
    assert "--min-size-px must be >= 0" in line


# ----------------------------------------------------------------------------- export-dataset


def test_export_dataset_round_trip(capsys, tmp_path):
    images, labels = tmp_path / "img", tmp_path / "lab"
    images.mkdir()
    labels.mkdir()
    for i in range(4):
        micro = make_microstructure((96, 128), seed=i, mean_grain_size_px=20)
        write_image(images / f"s{i}.png", micro.image)
        write_mask(labels / f"s{i}.png", micro.boundary)
    out = tmp_path / "ds"
    argv = ["export-dataset", str(images), str(labels), "--out", str(out), "--size", "32",
            "--split", "kfold_by_image", "--n-folds", "2", "--median", "3"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert printed["patches"] == manifest["counts"]["patches"] == 4 * 3 * 4
    assert manifest["config"]["split"] == "kfold_by_image" and manifest["config"]["median"] == 3
    assert all(s["normalization_bounds"] for s in manifest["sources"])
    line = run_error(capsys, argv)  # the folder holds a dataset now
    assert "overwrite" in line
    assert cli.main([*argv, "--overwrite"]) == 0
    capsys.readouterr()
    line = run_error(capsys, ["export-dataset", str(images), str(labels), "--out",
                              str(tmp_path / "d2"), "--size", "16"])
    assert "PatchConfig.size must be >= 32" in line
    (labels / "s0.png").unlink()
    line = run_error(capsys, ["export-dataset", str(images), str(labels), "--out",
                              str(tmp_path / "d3"), "--size", "32"])
    assert "s0" in line


# ----------------------------------------------------------------------------- parser


def test_parser_routes_every_subcommand(capsys):
    parser = cli.build_parser()
    for argv in (["predict", "a.png", "--out", "o"], ["stats", "b.png"],
                 ["export-dataset", "i", "l", "--out", "o"], ["train", "--config", "c.json"],
                 ["cv", "--config", "c.json"]):
        assert callable(parser.parse_args(argv).handler), argv
    assert cli.main([]) == 0 and "predict" in capsys.readouterr().out
