"""grainseg dashboard: routes only (``streamlit run app.py``).

Sets the page, draws the shared sidebar (model choice, pixel size, help; see
:mod:`ui.sidebar`) and runs the chosen page with ``st.navigation``. The pages live in
``pages/``; Segment is the landing page.
"""

from __future__ import annotations

import streamlit as st

from ui.sidebar import render_sidebar

st.set_page_config(page_title="grainseg", page_icon=":material/grain:", layout="wide")

PAGES = [
    st.Page("pages/1_segment.py", title="Segment", icon=":material/grain:", default=True),
    st.Page("pages/2_statistics.py", title="Grain statistics", icon=":material/bar_chart:"),
    st.Page("pages/3_dataset_builder.py", title="Dataset builder", icon=":material/dataset:"),
    st.Page("pages/4_training.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/5_compare.py", title="Compare models", icon=":material/compare:"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
