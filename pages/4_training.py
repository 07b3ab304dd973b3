"""Training page (placeholder until dashboard helper B replaces it)."""

from __future__ import annotations

import streamlit as st

st.title("Training")
st.info("This page is being built; the Segment and Grain statistics pages work now.")
