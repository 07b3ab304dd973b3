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


ERRORS_SCRIPT = """
import streamlit as st
from grainseg_core.errors import InputError
from ui.errors import user_errors

st.session_state.setdefault("kept", 41)
with user_errors("checking the input") as first:
    raise InputError("threshold must be in [0, 1]; got 2.")
with user_errors("drawing") as second:
    {}["missing"]
with user_errors() as third:
    st.session_state["kept"] += 1
st.write(f"after {first.failed} {second.failed} {third.failed} {st.session_state['kept']}")
"""


def test_user_errors_show_plain_messages_and_the_page_goes_on(app_test) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(ERRORS_SCRIPT, default_timeout=60).run()
    assert not at.exception
    messages = [e.value for e in at.error]
    assert messages[0] == "threshold must be in [0, 1]; got 2."
    assert messages[1].startswith("Something went wrong while drawing (KeyError).")
    assert "Traceback" not in messages[1]
    assert at.markdown[0].value == "after True True False 42"
    at.run()  # a rerun keeps the session state
    assert at.markdown[0].value == "after True True False 43"


def test_logged_message_logs_bugs_with_their_traceback(caplog) -> None:
    import logging

    from grainseg_core.errors import InputError
    from ui.errors import logged_message

    with caplog.at_level(logging.INFO, logger="grainseg.app"):
        try:
            raise InputError("file 'x.png' is not an image.")
        except InputError as exc:
            plain = logged_message(exc, "reading 'x.png'")
        try:
            {}["missing"]
        except KeyError as exc:
            bug = logged_message(exc, "reading 'y.png'")
    assert plain == "file 'x.png' is not an image."
    assert bug.startswith("Something went wrong while reading 'y.png' (KeyError).")
    user, unexpected = caplog.records
    assert user.levelno == logging.INFO and user.exc_info is None
    assert unexpected.levelno == logging.ERROR and unexpected.exc_info[0] is KeyError
