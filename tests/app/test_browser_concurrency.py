"""Four browser sessions at once, each with its own image, each get their own result.

Four contexts (separate cookies, separate Streamlit sessions) load the app and upload a
different micrograph each without waiting for one another, so the server segments them
concurrently; each page must then show the grain count the core computes for its own
image, and still show it after the others have finished (no session sees another's image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grainseg_core.inference import load_model, segment
from grainseg_core.io import write_image
from grainseg_core.samples import load_sample

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000


def _grains(page):
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text("Grains", exact=True)
    )
    return box.get_by_test_id("stMetricValue").first


@pytest.fixture(scope="module")
def four_images(tmp_path_factory, temp_zoo: Path) -> list[tuple[Path, int]]:
    """Four different micrographs on disk and the core's grain count for each."""
    folder = tmp_path_factory.mktemp("four")
    images = {
        "equiaxed.png": load_sample("synthetic_equiaxed").image,
        "elongated.png": load_sample("synthetic_elongated").image,
        "fine_noisy.png": load_sample("synthetic_fine_noisy").image,
        "nist_mirrored.png": np.ascontiguousarray(np.fliplr(load_sample("nist_steel").image)),
    }
    model = load_model(temp_zoo / "default.safetensors")
    out = []
    for name, image in images.items():
        path = folder / name
        write_image(path, image)
        out.append((path, segment(image, model).n_grains))
    counts = [n for _, n in out]
    assert len(set(counts)) == 4, f"the four images must give different counts: {counts}"
    return out


def test_four_sessions_get_their_own_results(streamlit_server, browser, four_images) -> None:
    from playwright.sync_api import expect

    contexts = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in four_images]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(streamlit_server)
        for page in pages:
            _grains(page).wait_for()
        # Upload in all four sessions before waiting for any result: the server works on
        # them together.
        for page, (path, _) in zip(pages, four_images, strict=True):
            uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload a micrograph")
            uploader.locator("input[type=file]").set_input_files(str(path))
        for page, (path, expected) in zip(pages, four_images, strict=True):
            expect(_grains(page)).to_have_text(str(expected), timeout=TIMEOUT_MS)
            page.get_by_text(path.name).first.wait_for()
        # After all four finished, each still shows its own image and count.
        for page, (path, expected) in zip(pages, four_images, strict=True):
            assert _grains(page).inner_text() == str(expected)
            assert page.get_by_test_id("stMarkdown").filter(has_text=path.name).count() >= 1
            expect(page.get_by_test_id("stException")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()
