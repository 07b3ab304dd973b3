"""Grain statistics page (placeholder while it is built)."""

from __future__ import annotations

import streamlit as st

st.title("Grain statistics")
