"""Compare models page: two models on an image with ground truth, side by side.

Confusion-colour overlays of one shared crop with markers where one model closes a gap
the other leaves open, a metric table (precision, recall, Dice, ARI, VI, grain-count
error) and the grain-size distributions overlaid with their JS distances to the truth.
"""

from __future__ import annotations

import streamlit as st

from ui.compare_views import (
    choose_image,
    choose_models,
    comparison,
    model_postprocess,
    predict_boundaries,
    render_tables,
    render_views,
)
from ui.errors import user_errors
from ui.navigation import ensure_navigation

ensure_navigation()
st.title("Compare models")
st.caption(
    "Two models on one micrograph with known boundaries: where each is right, where they differ, "
    "and what that does to the grains."
)

models = choose_models()
item = choose_image() if models is not None else None
if models is not None and item is not None:
    posts = model_postprocess(models)
    c1, c2 = st.columns(2)
    tolerance = c1.slider("Boundary tolerance (px)", 0.0, 5.0, 2.0, 0.5, key="cmp_tolerance")
    min_size = c2.selectbox("Minimum grain size (px)", [0, 3, 7, 11], index=1, key="cmp_min_size")
    with user_errors("comparing the models") as outcome:
        preds = predict_boundaries(item, models, posts)
        cmp, sites = comparison(item, preds, posts, tolerance, min_size)
    if not outcome.failed:
        render_views(item, preds, sites, tolerance)
        render_tables(cmp, list(preds))
