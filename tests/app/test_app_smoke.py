"""Every page renders on first load without an exception, with the shared sidebar."""

from __future__ import annotations

import pytest

PAGES = [
    "pages/1_segment.py",
    "pages/2_statistics.py",
    "pages/3_dataset_builder.py",
    "pages/4_training.py",
    "pages/5_compare.py",
]


def test_landing_page_is_segment_with_the_sidebar(app_test) -> None:
    at = app_test().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Segment"
    models = at.sidebar.multiselect[0]
    assert models.value == ["default"]  # the zoo's default model is chosen on arrival
    assert len(models.options) == 2 and models.options[0].startswith("Tiny test model (default)")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_first_load(app_test, page: str) -> None:
    at = app_test().run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title, f"{page} shows no title"
    assert at.sidebar.multiselect, "the shared sidebar is missing"
