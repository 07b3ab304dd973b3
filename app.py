"""grainseg dashboard entry point (one page until the multipage dashboard lands)."""

from __future__ import annotations

import streamlit as st

from grainseg_core.overlays import boundary_overlay
from grainseg_core.samples import list_samples, load_sample

st.set_page_config(page_title="grainseg", layout="wide")
st.title("grainseg")

infos = list_samples()
name = st.sidebar.selectbox(
    "Sample", [i.name for i in infos], format_func=lambda n: next(i.title for i in infos if i.name == n)
)
sample = load_sample(name)
st.caption(f"{sample.info.description}  \nSource: {sample.info.source}. Licence: {sample.info.licence}.")
show_label = st.toggle("Show the traced grain boundaries", value=False, disabled=sample.boundary is None)
shown = boundary_overlay(sample.image, sample.boundary) if show_label else sample.image
st.image(shown, caption=f"{sample.image.shape[1]} x {sample.image.shape[0]} px, "
         f"{sample.pixel_size_um:.4g} um/px", width="stretch")
