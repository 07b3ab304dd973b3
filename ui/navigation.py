"""Keep every page under ``app.py``'s ``st.navigation``, even on a deep link.

Streamlit treats an app with a ``pages/`` folder as a legacy multipage app (each page file
run on its own, no ``app.py``, an automatic menu) until ``st.navigation`` runs once in the
server process and turns that mode off for good. On a freshly started server, a first
visit straight to a page's address (``/statistics``) therefore runs the page without the
shared sidebar. :func:`ensure_navigation`, called first thing by a page, turns the legacy
mode off the way ``st.navigation`` does and reruns, so ``app.py`` draws the sidebar and
runs the same page. Where ``app.py`` already ran (every normal visit) it does nothing.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

__all__ = ["disable_legacy_pages", "ensure_navigation"]


def disable_legacy_pages() -> bool:
    """Turn Streamlit's legacy ``pages/`` mode off; True if it was on."""
    was_on = bool(PagesManager.uses_pages_directory)
    # What st.navigation itself does (streamlit/commands/navigation.py).
    PagesManager.uses_pages_directory = False
    return was_on


def ensure_navigation() -> None:
    """Rerun through ``app.py`` when Streamlit ran this page file on its own."""
    if disable_legacy_pages():
        st.rerun()
