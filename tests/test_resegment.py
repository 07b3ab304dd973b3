"""Results rebuilt from a probability map: post-processing, corrections, edge exclusion."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg_core.corrections import Stroke
from grainseg_core.errors import GrainsegWarning, InputError, ModelError
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.resegment import recommended_postprocess, resegment, segmentation_from_masks


def _grid_prob() -> np.ndarray:
    """Boundaries every 10 px in a 31 x 31 frame: a 3 x 3 grid of 9 x 9 px grains."""
    p = np.zeros((31, 31), np.float32)
    p[::10, :] = 0.9
    p[:, ::10] = 0.9
    return p


def test_resegment_counts_grid_grains_and_sizes_in_um() -> None:
    r = resegment(_grid_prob(), pixel_size_um=0.5, model_names=("m",))
    assert r.n_grains == 9
    assert set(r.grain_table["area_px"]) == {81}
    np.testing.assert_allclose(r.grain_table["area_um2"], 81 * 0.25)
    assert r.model_names == ("m",) and r.pixel_size_um == 0.5
    assert r.settings["corrections"]["n_strokes"] == 0
    assert r.settings["postprocess"]["threshold"] == 0.5
    assert "postprocess" in r.timings and r.timings["total"] >= r.timings["postprocess"]


def test_threshold_above_the_map_gives_one_grain() -> None:
    r = resegment(_grid_prob(), post=PostprocessConfig(threshold=0.95))
    assert r.n_grains == 1


def test_corrections_split_and_merge() -> None:
    p = _grid_prob()
    split = resegment(p, strokes=[Stroke(((15, 10), (15, 20)))])
    assert split.n_grains == 10
    merged = resegment(p, strokes=[Stroke(((5, 9), (5, 11)), mode="erase")])
    assert merged.n_grains == 8
    assert merged.settings["corrections"] == {
        "n_strokes": 1,
        "n_draw": 0,
        "n_erase": 1,
        "snap_px": 0.0,
    }


def test_edge_exclusion_applies_after_corrections() -> None:
    p = np.zeros((30, 30), np.float32)
    p[10, :] = p[20, :] = p[:, 10] = p[:, 20] = 1.0
    post = PostprocessConfig(exclude_edge_grains=True)
    assert resegment(p, post=post).n_grains == 1  # only the centre grain
    split = resegment(p, post=post, strokes=[Stroke(((15, 10), (15, 20)))])
    assert split.n_grains == 2


def test_given_labels_are_used_without_strokes() -> None:
    p = _grid_prob()
    boundary = p > 0.5
    fake = np.ones(p.shape, np.int32)  # a caller's labels are trusted when nothing changed
    r = segmentation_from_masks(p, boundary, labels=fake)
    assert r.n_grains == 1
    r2 = segmentation_from_masks(p, boundary, labels=fake, strokes=[Stroke(((0, 0),))])
    assert r2.n_grains == 9  # strokes force a relabel


def test_uncertainty_is_kept_and_summarised() -> None:
    p = _grid_prob()
    unc = np.full(p.shape, 0.1, np.float32)
    r = segmentation_from_masks(p, p > 0.5, uncertainty=unc)
    assert r.summary(astm=False)["mean_uncertainty"] == pytest.approx(0.1)


def test_validation() -> None:
    p = _grid_prob()
    with pytest.raises(InputError, match=r"boundary \(shape \(3, 3\)\) must match"):
        segmentation_from_masks(p, np.zeros((3, 3), bool))
    with pytest.raises(InputError, match=r"uncertainty \(shape \(2, 2\)\) must match"):
        segmentation_from_masks(p, p > 0.5, uncertainty=np.zeros((2, 2), np.float32))
    with pytest.raises(InputError, match="post must be a PostprocessConfig"):
        segmentation_from_masks(p, p > 0.5, post={"threshold": 0.5})
    with pytest.raises(InputError, match="probability"):
        resegment(p * 3)
    with pytest.raises(InputError, match="pixel"):
        resegment(p, pixel_size_um=-1)


def test_recommended_postprocess_from_a_card() -> None:
    card = {
        "architecture": "slim_unet",
        "postprocess": {"threshold": 0.42, "skeletonize": True, "min_fragment_px": 8},
    }
    post = recommended_postprocess(card, model_name="model 'default'")
    assert post == PostprocessConfig(threshold=0.42, skeletonize=True, min_fragment_px=8)
    # The whole dataclass as the zoo writes it (PostprocessConfig().__dict__) reads back.
    full = {"postprocess": dict(PostprocessConfig(threshold=0.3, gap_close_px=5.0).__dict__)}
    assert recommended_postprocess(full) == PostprocessConfig(threshold=0.3, gap_close_px=5.0)
    assert recommended_postprocess({"architecture": "x"}) is None
    assert recommended_postprocess({"postprocess": None}) is None


def test_recommended_postprocess_ignores_unknown_options_with_a_warning() -> None:
    card = {"postprocess": {"threshold": 0.6, "tta_flavour": "spicy"}}
    with pytest.warns(GrainsegWarning, match=r"model 'm'.*\(tta_flavour\); they are ignored"):
        post = recommended_postprocess(card, model_name="model 'm'")
    assert post == PostprocessConfig(threshold=0.6)


def test_recommended_postprocess_refuses_bad_cards() -> None:
    with pytest.raises(ModelError, match=r"model 'm': 'postprocess' must map .* got list"):
        recommended_postprocess({"postprocess": [0.5]}, model_name="model 'm'")
    with pytest.raises(ModelError, match=r"model 'm' recommends post-processing that is not valid"):
        recommended_postprocess({"postprocess": {"threshold": 1.5}}, model_name="model 'm'")
    with pytest.raises(InputError, match="card must be a mapping"):
        recommended_postprocess(["postprocess"])
