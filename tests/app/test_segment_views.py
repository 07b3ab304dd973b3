"""Screen views of the Segment page (plain functions, no Streamlit): sizes, pooling, PNGs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from grainseg_core.overlays import boundary_overlay
from ui.segment_views import (
    BOUNDARY_RGB,
    VIEWS,
    boundary_view_png,
    display_gray,
    display_shape,
    downscale_image,
    downscale_mask,
    render_view,
    view_png,
)


def _rgb(png: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    return np.asarray(picture.convert("RGB"))


@pytest.fixture(scope="module")
def scene():
    """A 16-bit 300 x 500 micrograph with a boundary grid every 50 px and its labels."""
    rng = np.random.default_rng(0)
    image = (rng.random((300, 500)) * 60000).astype(np.uint16)
    image[0, 0], image[0, 1] = 0, 65535  # the stretch reaches both ends
    boundary = np.zeros(image.shape, bool)
    boundary[::50, :] = True
    boundary[:, ::50] = True
    from grainseg_core.grains import label_grains

    return image, boundary, label_grains(boundary)


def test_display_shape_and_max_pooled_lines() -> None:
    assert display_shape((1536, 2048), 1024) == (768, 1024)
    mask = np.zeros((90, 90), bool)
    mask[:, 31] = True  # a 1-px line at a column that sampling by 3 would miss
    small = downscale_mask(mask, (30, 30))
    assert small.shape == (30, 30) and small[:, 10].all() and small.sum() == 30


def test_boundary_view_png_is_the_core_overlay_as_an_indexed_image(scene) -> None:
    image, boundary, _ = scene
    shape = display_shape(image.shape, 200)
    gray = display_gray(image, 200)
    mask = downscale_mask(boundary, shape)
    png = boundary_view_png(gray, mask)
    assert Image.open(io.BytesIO(png)).mode == "P"
    expected = boundary_overlay(downscale_image(image, shape), mask, color=BOUNDARY_RGB)
    shown = _rgb(png)
    white = gray == 255  # shown as 254: the last palette entry is the boundary colour
    assert white.any() and mask.any()
    np.testing.assert_array_equal(shown[~white], expected[~white])
    assert (shown[white & ~mask] == 254).all()


def test_view_png_matches_render_view_and_reuses_a_kept_display_image(scene) -> None:
    image, boundary, labels = scene
    prob = boundary.astype(np.float32)
    args = dict(boundary=boundary, labels=labels, probability=prob, max_side=200)
    png, shape = view_png(VIEWS[1], image, **args)
    assert shape == (120, 200)
    np.testing.assert_array_equal(_rgb(png), render_view(VIEWS[1], image, **args))
    # A kept display image is used as given (here a black one), a stale one is redrawn.
    off_lines = ~downscale_mask(boundary, shape)
    png, _ = view_png(VIEWS[0], image, gray=np.zeros(shape, np.uint8), **args)
    assert _rgb(png)[off_lines].max() == 0
    png, _ = view_png(VIEWS[0], image, gray=np.zeros((10, 10), np.uint8), **args)
    assert _rgb(png)[off_lines].max() == 254


def test_grains_view_leaves_read_only_labels_alone(scene) -> None:
    image, boundary, labels = scene
    small = labels[:100, :100].copy()
    small.flags.writeable = False  # as the app's shared caches hand them out
    view = render_view(
        VIEWS[1],
        image[:100, :100],
        boundary=boundary[:100, :100],
        labels=small,
        probability=np.zeros((100, 100), np.float32),
        max_side=200,
    )
    assert view.shape == (100, 100, 3)
