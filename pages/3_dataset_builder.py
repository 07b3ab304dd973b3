"""Dataset builder page: polygons -> masks, SEM + EBSD -> corrected labels, patch export.

Three sections, each a few widgets over core calls (see ``ui/dataset_*.py``); what they
build stays in the session, so a page switch or a later bad upload loses nothing.
"""

from __future__ import annotations

import streamlit as st

from ui.dataset_annotations import render_annotation_section
from ui.dataset_ebsd import render_ebsd_section
from ui.dataset_export import render_export_section
from ui.navigation import ensure_navigation

ensure_navigation()
st.title("Dataset builder")
st.caption(
    "Turn annotations into training labels, check them against the micrograph, and export patches "
    "for the Training page."
)

tab_a, tab_b, tab_c = st.tabs(
    ["(a) Polygons → masks", "(b) SEM + EBSD → label", "(c) Export patches"]
)
with tab_a:
    render_annotation_section()
with tab_b:
    render_ebsd_section()
with tab_c:
    render_export_section()
