"""TopoLoss: the complex counts grains right, and the gradient pushes the right pixels."""

from __future__ import annotations

import cripser
import numpy as np
import pytest
import torch
from scipy import ndimage as ndi
from skimage.measure import label
from skimage.morphology import skeletonize

from grainseg_core.errors import ConfigError, InputError
from grainseg_core.losses import TopoLoss, count_grains, grain_persistence


def _voronoi_boundaries(shape, n_seeds, seed):
    """Thin (1 px, 8-connected) boundaries of a seeded Voronoi tessellation."""
    rng = np.random.default_rng(seed)
    pts = rng.integers(0, shape, size=(n_seeds, 2))
    markers = np.zeros(shape, int)
    markers[pts[:, 0], pts[:, 1]] = np.arange(1, n_seeds + 1)
    _, (rr, cc) = ndi.distance_transform_edt(markers == 0, return_indices=True)
    cells = markers[rr, cc]
    edges = np.zeros(shape, bool)
    edges[:-1] |= cells[:-1] != cells[1:]
    edges[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    return skeletonize(edges)


@pytest.mark.parametrize(("n_seeds", "seed"), [(40, 0), (180, 1), (400, 2)])
def test_pairs_count_grains_of_thin_boundaries(n_seeds, seed):
    mask = _voronoi_boundaries((256, 256), n_seeds, seed)
    grains = label(~mask, connectivity=1).max()
    pairs = grain_persistence(mask.astype(np.float32))
    assert len(pairs.birth) + 1 == grains  # one finite pair per grain but the oldest
    assert np.all(pairs.persistence == 1.0)
    assert count_grains(mask) == grains
    # The T-construction (8-connected) would leak through diagonal boundary steps:
    # the test above would fail if the wrong complex were used.
    framed = np.pad(mask.astype(np.float64), 1, constant_values=1.0)
    wrong = cripser.computePH_T(framed, maxdim=0)
    assert (wrong[:, 0] == 0).sum() < grains


def test_pairs_count_grains_on_real_boundary_map(shared_data):
    import tifffile

    gb = tifffile.imread(shared_data / "nist_steel" / "grains_steel_highlighted_segmented.tif") > 0
    thin = skeletonize(gb)
    grains = label(~thin, connectivity=1).max()
    assert grains > 150
    assert len(grain_persistence(thin.astype(np.float32)).birth) + 1 == grains


def _two_grains_with_gap():
    """GT: a full vertical boundary at column 8 of a 16x16 crop (two grains).

    Prediction: p = 0.1 in the grains (minima 0.05 at (4, 3), 0.08 at (4, 12)),
    0.9 on the line except a gap of 0.3 at (8, 8).
    """
    target = torch.zeros(1, 1, 16, 16)
    target[..., :, 8] = 1.0
    p = torch.full((16, 16), 0.1)
    p[:, 8] = 0.9
    p[8, 8] = 0.3
    p[4, 3] = 0.05
    p[4, 12] = 0.08
    return target, torch.logit(p)[None, None]


def test_gradient_closes_a_planted_gap():
    target, logits = _two_grains_with_gap()
    logits.requires_grad_(True)
    loss_fn = TopoLoss()
    loss = loss_fn(logits, target)
    # The younger grain (born 0.08 at (4, 12)) dies at the gap (8, 8): k = 1 fixed pair.
    assert loss_fn.last_stats == {"k": [1], "n_fixed": [1], "n_spurious": [0]}
    assert loss.item() == pytest.approx(0.08**2 + (0.3 - 1.0) ** 2, rel=1e-5)
    loss.backward()
    grad = logits.grad[0, 0]
    assert grad[8, 8] < 0  # a descent step raises p at the saddle (closes the gap)
    assert grad[4, 12] > 0  # and lowers p at the birth pixel
    touched = torch.zeros(16, 16, dtype=torch.bool)
    touched[8, 8] = touched[4, 12] = True
    assert torch.all(grad[~touched] == 0)

    # One gradient step on the logits makes the gap stronger.
    with torch.no_grad():
        stepped = logits - 10.0 * logits.grad
    p0, p1 = torch.sigmoid(logits)[0, 0], torch.sigmoid(stepped)[0, 0]
    assert p1[8, 8] > p0[8, 8] and p1[4, 12] < p0[4, 12]
    assert loss_fn(stepped, target).item() < loss.item()


def test_gradient_removes_a_spurious_grain():
    # GT: one grain (no boundary) -> k = 0: every significant extra grain is spurious.
    target = torch.zeros(1, 1, 16, 16)
    p = torch.full((16, 16), 0.1)
    p[2, 2] = 0.05  # the oldest grain (essential)
    p[6:11, 6:11] = 0.9  # a closed ring ...
    p[7:10, 7:10] = 0.2  # ... around a pocket: a spurious grain
    p[8, 8] = 0.15  # born here
    p[6, 8] = 0.6  # weakest ring pixel: dies here
    p[13, 3] = 0.12  # a noise dip (persistence 0.01 < 0.03): left alone
    p[12:15, 2:5][p[12:15, 2:5] == 0.1] = 0.13
    logits = torch.logit(p)[None, None].requires_grad_(True)
    loss_fn = TopoLoss()
    loss = loss_fn(logits, target)
    assert loss_fn.last_stats == {"k": [0], "n_fixed": [0], "n_spurious": [1]}
    assert loss.item() == pytest.approx(0.5 * (0.6 - 0.15) ** 2, rel=1e-5)
    loss.backward()
    grad = logits.grad[0, 0]
    assert grad[8, 8] < 0  # birth raised towards the death value
    assert grad[6, 8] > 0  # death lowered towards the birth value
    assert grad[13, 3] == 0


def test_perfect_prediction_has_zero_loss():
    mask = _voronoi_boundaries((64, 64), 12, 3)
    target = torch.from_numpy(mask).float()[None, None]
    logits = (target * 2 - 1) * 30.0
    loss_fn = TopoLoss()
    assert float(loss_fn(logits, target)) < 1e-12
    assert loss_fn.last_stats["k"] == [count_grains(mask) - 1]


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_one_grain_and_all_boundary_targets(fill):
    target = torch.full((2, 1, 16, 16), fill)
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    loss_fn = TopoLoss()
    loss = loss_fn(logits, target)
    assert loss_fn.last_stats["k"] == [0, 0]
    assert loss_fn.last_stats["n_fixed"] == [0, 0]
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_batch_average_threads_and_cache():
    gen = torch.Generator().manual_seed(1)
    targets = torch.from_numpy(
        np.stack([_voronoi_boundaries((48, 48), 8, s) for s in (4, 5, 6)])
    ).float()[:, None]
    logits = torch.randn(3, 1, 48, 48, generator=gen) + (targets * 4 - 2)
    single = TopoLoss(n_threads=1)
    each = [float(single(logits[i : i + 1], targets[i : i + 1])) for i in range(3)]
    assert single._cache.misses == 3
    pooled = TopoLoss(n_threads=2)
    total = float(pooled(logits, targets))
    assert total == pytest.approx(sum(each) / 3, rel=1e-6)
    pooled(logits, targets)  # same crops again: k comes from the cache
    assert pooled._cache.misses == 3 and pooled._cache.hits == 3


def test_gradient_reaches_a_network():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    target, logits = _two_grains_with_gap()
    out = net(torch.sigmoid(logits)) + logits
    TopoLoss()(out, target).backward()
    assert net.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spurious_threshold": -0.1}, r"spurious_threshold must lie in \[0, 1\)"),
        ({"spurious_threshold": 1.0}, r"spurious_threshold must lie in \[0, 1\)"),
        ({"n_threads": 0}, r"n_threads must be in \[1, 256\]"),
        ({"cache_size": 0}, "cache_size must be >= 1"),
    ],
)
def test_option_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TopoLoss(**kwargs)


def test_input_validation():
    loss = TopoLoss()
    with pytest.raises(InputError, match=r"topo: logits must have shape \(B, 1, H, W\)"):
        loss(torch.zeros(2, 1, 16), torch.zeros(2, 1, 16))
    with pytest.raises(InputError, match=r"target \(shape \(1, 1, 8, 8\)\) must match logits"):
        loss(torch.zeros(1, 1, 8, 9), torch.zeros(1, 1, 8, 8))
    with pytest.raises(InputError, match=r"target must lie in \[0, 1\]"):
        loss(torch.zeros(1, 1, 8, 8), torch.full((1, 1, 8, 8), 255.0))


def test_grain_persistence_validation():
    with pytest.raises(InputError, match=r"prob must lie in \[0, 1\]"):
        grain_persistence(np.full((4, 4), 2.0))


def test_topo_loss_can_be_copied_and_pickled():
    import copy
    import pickle

    target, logits = _two_grains_with_gap()
    loss = TopoLoss(n_threads=1)
    expected = loss(logits, target).item()
    for clone in (copy.deepcopy(loss), pickle.loads(pickle.dumps(loss))):
        assert clone(logits, target).item() == pytest.approx(expected)
        assert clone.n_threads == 1
