"""The app starts on the bundled sample and renders without exceptions."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_app_renders_the_default_sample() -> None:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.sidebar.selectbox[0].value == "nist_steel"
