"""Helpers shared by the browser tests: navigate, pick, upload and wait as a user does."""

from __future__ import annotations

from typing import Any

TIMEOUT_MS = 120_000


def open_page(page: Any, base_url: str, link: str) -> None:
    """Open the app at its root, then a page through the sidebar navigation (as a user does)."""
    page.goto(base_url)
    page.get_by_test_id("stSidebarNav").get_by_text(link, exact=True).click()


def choose(page: Any, label: str, option_text: str) -> None:
    """Pick an option of a Streamlit selectbox (a combobox) by label and option text."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option").filter(has_text=option_text).first.click()


def wait_idle(page: Any, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until the app has finished its current run (Streamlit's status widget is gone)."""
    page.wait_for_timeout(300)  # a rerun that has just been triggered shows the widget late
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
    )


def upload(page: Any, widget_key: str, files: list[dict[str, Any]]) -> None:
    """Give files to the ``st.file_uploader`` of key ``widget_key`` and wait for the rerun.

    A second upload sent while the app still reruns for the first can be lost with the
    re-drawn widget; a user sees the first file listed before choosing the next.
    """
    uploader = page.locator(f".st-key-{widget_key}")
    uploader.locator("input[type=file]").set_input_files(files=files)
    for item in files:
        uploader.get_by_text(item["name"]).first.wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
