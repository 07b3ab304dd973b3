"""Post-processing starts from the chosen model's card (``card["postprocess"]``).

A zoo of two tiny models built from the session zoo's weights: ``carded`` (roles
``default``, ``compare_bce``) whose card recommends a threshold of 0.62, skeletonising and
dropping fragments under 8 px, and ``plain`` (``compare_topo``) whose card recommends
nothing. Every number is checked against the core run with the settings the card says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from grainseg_core.compare import compare_models
from grainseg_core.distributions import compare_samples
from grainseg_core.inference import load_model, segment
from grainseg_core.postprocess import PostprocessConfig, run_postprocess
from grainseg_core.resegment import resegment
from grainseg_core.samples import load_sample

CARD_POST = {"threshold": 0.62, "skeletonize": True, "min_fragment_px": 8}
RECOMMENDED = PostprocessConfig(**CARD_POST)


def _copy_model(src: Path, dst: Path, **card_changes) -> None:
    shutil.copyfile(src.with_suffix(".safetensors"), dst.with_suffix(".safetensors"))
    card = json.loads(src.with_suffix(".json").read_text())
    card.update(card_changes)
    dst.with_suffix(".json").write_text(json.dumps(card))


@pytest.fixture(scope="module")
def carded_zoo(temp_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("carded_zoo")
    _copy_model(
        temp_zoo / "default",
        folder / "carded",
        zoo={"roles": ["default", "compare_bce"], "title": "Carded"},
        postprocess=CARD_POST,
    )
    _copy_model(temp_zoo / "alt", folder / "plain", zoo={"roles": ["compare_topo"]})
    return folder


@pytest.fixture
def zoo_env(carded_zoo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(carded_zoo))
    return carded_zoo


@pytest.fixture(scope="module")
def nist():
    return load_sample("nist_steel")


@pytest.fixture(scope="module")
def probs(carded_zoo: Path, nist) -> dict[str, np.ndarray]:
    """Each model's probability map of the landing sample, as the app computes it."""
    return {
        name: segment(nist.image, load_model(carded_zoo / f"{name}.safetensors")).probability
        for name in ("carded", "plain")
    }


def grains(at) -> int:
    return int(next(m.value for m in at.metric if m.label == "Grains"))


def expected_grains(prob: np.ndarray, post: PostprocessConfig, nist) -> int:
    return resegment(prob, post=post, pixel_size_um=nist.pixel_size_um).n_grains


def test_segment_page_starts_from_the_card_and_keeps_it_when_a_slider_moves(
    zoo_env, app_test, nist, probs
) -> None:
    at = app_test().run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]  # e.g. widget value set twice
    assert at.slider(key="seg_w_threshold").value == pytest.approx(0.62)
    assert at.toggle(key="seg_w_skeleton").value is True
    assert any(
        c.value.startswith("Starts from the card of model 'carded'")
        and "threshold=0.62" in c.value
        and "min_fragment_px=8" in c.value
        for c in at.caption
    ), [c.value for c in at.caption]
    assert grains(at) == expected_grains(probs["carded"], RECOMMENDED, nist)
    # A slider sets its own setting; the card's others (min_fragment_px has no control) stay.
    at.slider(key="seg_w_threshold").set_value(0.7).run()
    moved = PostprocessConfig(**{**CARD_POST, "threshold": 0.7})
    assert grains(at) == expected_grains(probs["carded"], moved, nist)
    # A visit to another page keeps the user's value.
    at.switch_page("pages/2_statistics.py").run()
    at.switch_page("pages/1_segment.py").run()
    assert at.slider(key="seg_w_threshold").value == pytest.approx(0.7)
    # The reset button goes back to the card.
    at.button(key="seg_w_reset_post").click().run()
    assert at.slider(key="seg_w_threshold").value == pytest.approx(0.62)
    assert grains(at) == expected_grains(probs["carded"], RECOMMENDED, nist)


def test_another_model_starts_from_its_own_card_or_the_defaults(
    zoo_env, app_test, nist, probs
) -> None:
    at = app_test().run()
    at.slider(key="seg_w_threshold").set_value(0.7).run()
    at.sidebar.multiselect[0].set_value(["plain"]).run()
    assert not at.exception, at.exception
    assert at.slider(key="seg_w_threshold").value == pytest.approx(0.5)
    assert at.toggle(key="seg_w_skeleton").value is False
    assert any(
        "the default settings (model 'plain': its card recommends none)" in c.value
        for c in at.caption
    )
    assert grains(at) == expected_grains(probs["plain"], PostprocessConfig(), nist)
    # An ensemble follows its first model's card.
    at.sidebar.multiselect[0].set_value(["carded", "plain"]).run()
    assert at.slider(key="seg_w_threshold").value == pytest.approx(0.62)
    assert any("the first of the ensemble" in c.value for c in at.caption)


def test_statistics_model_source_uses_that_models_card(zoo_env, app_test, nist, probs) -> None:
    at = app_test().run()
    at.sidebar.multiselect[0].set_value(["plain"]).run()
    at.switch_page("pages/2_statistics.py").run()
    at.selectbox(key="stats_w_source_b").set_value("Model: carded").run()
    assert not at.exception and not at.error
    assert any("post-processing from the card of model 'carded'" in c.value for c in at.caption)
    px = nist.pixel_size_um
    mine = resegment(probs["plain"], pixel_size_um=px).grain_table["ecd_um"]
    theirs = resegment(probs["carded"], post=RECOMMENDED, pixel_size_um=px).grain_table["ecd_um"]
    expected = compare_samples(mine, theirs)
    shown = {m.label: m.value for m in at.metric}
    assert shown["JS distance, sizes"] == f"{expected.js_pdf:.3f}"


def test_compare_page_thresholds_start_from_each_card(zoo_env, app_test, carded_zoo) -> None:
    at = app_test().run()
    at.switch_page("pages/5_compare.py").run()
    assert not at.exception, at.exception
    values = [s.value for s in at.slider if s.label.startswith("Threshold of")]
    assert values == pytest.approx([0.62, 0.5])
    sample = load_sample(at.selectbox(key="cmp_sample").value)
    posts = {"carded": RECOMMENDED, "plain": PostprocessConfig()}
    preds = {}
    for name, post in posts.items():
        prob = segment(sample.image, load_model(carded_zoo / f"{name}.safetensors")).probability
        preds[name] = run_postprocess(prob, post, pixel_size_um=sample.pixel_size_um).boundary
    expected = compare_models(
        preds, sample.boundary, tolerance_px=2.0, pixel_size_um=sample.pixel_size_um, min_size_px=3
    )
    shown = next(d.value for d in at.dataframe if "precision" in d.value.columns)
    np.testing.assert_allclose(shown["recall"], expected.metrics["recall"])
    np.testing.assert_allclose(shown["ari"], expected.metrics["ari"])


def test_a_card_with_a_bad_recommendation_falls_back_to_the_defaults(
    carded_zoo, tmp_path, monkeypatch, app_test, nist, probs
) -> None:
    folder = tmp_path / "bad_zoo"
    folder.mkdir()
    _copy_model(
        carded_zoo / "carded", folder / "odd", postprocess={"threshold": 2.0, "flavour": 1}
    )
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(folder))
    at = app_test().run()
    assert not at.exception, at.exception
    assert any(
        "the card of model 'odd' recommends post-processing that is not valid" in w.value
        and "default settings are used instead" in w.value
        for w in at.warning
    ), [w.value for w in at.warning]
    assert at.slider(key="seg_w_threshold").value == pytest.approx(0.5)
    assert grains(at) == expected_grains(probs["carded"], PostprocessConfig(), nist)


def test_the_recommended_ensemble_is_one_click_away(
    temp_zoo: Path, app_test, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card_figure = {"summary": {"heyn_mean_rel_error": 0.1}}
    _copy_model(temp_zoo / "default", tmp_path / "main", zoo={"roles": ["default"]},
                evaluation={"tbm_nested_cv_postprocess": card_figure})
    _copy_model(temp_zoo / "alt", tmp_path / "partner", zoo={"roles": ["ensemble"]},
                evaluation={"tbm_nested_cv_ensemble": {"summary": {"heyn_mean_rel_error": 0.08}}})
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(tmp_path))
    at = app_test().run()
    assert at.sidebar.multiselect[0].value == ["main"]
    button = at.button(key="gs_w_use_ensemble")
    assert button.label == "Most accurate: ensemble of main + partner"
    assert "8.0% instead of 10.0%" in button.help
    button.click().run()
    assert not at.exception, at.exception
    assert at.sidebar.multiselect[0].value == ["main", "partner"]
    assert any("the first of the ensemble" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "gs_w_use_ensemble"]  # chosen: no offer


def test_dead_end_removal_toggle_reaches_the_grain_figures(zoo_env, app_test, nist, probs) -> None:
    def shown_g(at) -> str:
        return next(m.value for m in at.metric if m.label == "ASTM G")

    def core_g(post: PostprocessConfig) -> str:
        result = resegment(probs["carded"], post=post, pixel_size_um=nist.pixel_size_um)
        return f"{result.summary()['astm_g']:.2f}"

    at = app_test().run()
    assert at.toggle(key="seg_w_dead_ends").value is False  # the card does not ask for it
    pruned = PostprocessConfig(**{**CARD_POST, "prune_dead_ends": True})
    assert core_g(pruned) != core_g(RECOMMENDED)  # the sample's map has dead ends
    at.toggle(key="seg_w_dead_ends").set_value(True).run()
    assert not at.exception, at.exception
    assert shown_g(at) == core_g(pruned)
    assert grains(at) == expected_grains(probs["carded"], RECOMMENDED, nist)  # same grains
    # Without thinning there are no 1-px walls to prune: the toggle is greyed out and off.
    at.toggle(key="seg_w_skeleton").set_value(False).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.toggle(key="seg_w_dead_ends").disabled
    unthinned = PostprocessConfig(**{**CARD_POST, "skeletonize": False})
    assert shown_g(at) == core_g(unthinned)
