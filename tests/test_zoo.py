"""The zoo lists saved models by their cards and finds the default and the comparison pair."""

from __future__ import annotations

import pytest

from grainseg_core.errors import ModelError
from grainseg_core.nets import build_model, save_model
from grainseg_core.zoo import (
    comparison_pair,
    default_model,
    find_model,
    list_models,
    recommended_ensemble,
)


def _save(folder, name, roles=()):
    model = build_model("slim_unet", base_width=4, depth=2)
    save_model(model, folder / name, card={"zoo": {"title": name.upper(), "roles": list(roles)}})


def test_lists_models_default_first_and_skips_broken(tmp_path) -> None:
    _save(tmp_path, "a")
    _save(tmp_path, "b", roles=["default"])
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "broken.safetensors").write_bytes(b"x")
    (tmp_path / "orphan.json").write_text('{"architecture": "slim_unet"}')  # no weights
    names = [e.name for e in list_models(tmp_path)]
    assert names == ["b", "a"]
    assert default_model(tmp_path).name == "b"
    assert find_model("a", tmp_path).title == "A"
    assert comparison_pair(tmp_path) is None
    assert recommended_ensemble(tmp_path) == []


def test_comparison_pair_by_roles(tmp_path) -> None:
    _save(tmp_path, "bce", roles=["compare_bce"])
    _save(tmp_path, "topo", roles=["compare_topo"])
    bce, topo = comparison_pair(tmp_path)
    assert (bce.name, topo.name) == ("bce", "topo")


def test_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(ModelError, match="holds no model"):
        default_model(tmp_path)
    _save(tmp_path, "slim")
    with pytest.raises(ModelError, match="unknown model 'slm'; did you mean 'slim'"):
        find_model("slm", tmp_path)


def test_recommended_ensemble_is_the_default_then_its_partners(tmp_path) -> None:
    _save(tmp_path, "a_partner", roles=["ensemble"])
    _save(tmp_path, "other")
    _save(tmp_path, "z_default", roles=["default"])
    assert [e.name for e in recommended_ensemble(tmp_path)] == ["z_default", "a_partner"]
    assert recommended_ensemble(entries=list_models(tmp_path)) == recommended_ensemble(tmp_path)
