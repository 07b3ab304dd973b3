"""Training page: start runs in the background, watch them live, stop/resume, publish.

Runs are separate processes (:func:`grainseg_core.training.launch_run`) writing run folders
under :func:`ui.state.runs_root`; this page only reads those folders, so a refresh or a
second tab shows the same runs and loses nothing.
"""

from __future__ import annotations

import streamlit as st

from grainseg_core.datasets import list_datasets
from grainseg_core.training import list_runs
from ui import state
from ui.navigation import ensure_navigation
from ui.training_form import render_training_form
from ui.training_runs import (
    render_compare_curves,
    render_publish,
    render_run_panel,
    render_runs_overview,
)

ensure_navigation()
st.title("Training")
st.caption(
    "Train a boundary network on a dataset from the Dataset builder. Runs go on in the "
    f"background (folder `{state.runs_root()}`): close the tab or refresh at any time."
)

render_training_form(list_datasets(state.datasets_root()))

st.divider()
st.markdown("#### Runs")
runs = list_runs(state.runs_root())
chosen = render_runs_overview(runs)
if chosen is not None:
    render_run_panel(chosen)
    render_publish(chosen)
    render_compare_curves(runs)
