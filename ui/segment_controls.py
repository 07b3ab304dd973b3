"""The Segment page's post-processing controls, started from the chosen model's card.

The controls (threshold, closing, gap closing, minimum grain size, edge grains,
skeletonising, dead-end removal, test-time augmentation) get their values from the
session before they are drawn, never through a widget's ``value=`` (Streamlit would keep
a keyed widget's old value, and warns when both are given):

- a new model choice (another :attr:`~ui.postprocess_defaults.PostDefaults.key`) starts
  them from that model's card (:func:`ui.state.postprocess_defaults`);
- otherwise they keep the session's settings (:func:`ui.state.postprocess_config`), which
  also fill them in again after a visit to another page (Streamlit forgets the values of
  widgets that were not drawn);
- "Reset to these defaults" puts the card's values back.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from grainseg_core.postprocess import PostprocessConfig
from ui import state
from ui.errors import user_errors
from ui.postprocess_defaults import PostDefaults, describe_postprocess

__all__ = ["postprocess_controls"]

_SEEDED_FROM = "seg_post_seeded_from"  # PostDefaults.key the controls started from


def _control_values(post: PostprocessConfig) -> dict[str, object]:
    """Widget values showing ``post`` (clipped to the controls' ranges)."""
    return {
        "seg_w_threshold": min(max(float(post.threshold), 0.05), 0.95),
        "seg_w_closing": min(int(post.closing_radius), 6),
        "seg_w_gap": min(round(post.gap_close_px), 40),
        "seg_w_min_size": min(float(post.min_grain_size), 10000.0),
        "seg_w_min_unit": "µm" if post.min_grain_size_unit == "um" else "px",
        "seg_w_edge": bool(post.exclude_edge_grains),
        "seg_w_skeleton": bool(post.skeletonize),
        "seg_w_dead_ends": bool(post.prune_dead_ends),
    }


def _set_controls(post: PostprocessConfig, *, only_missing: bool = False) -> None:
    for key, value in _control_values(post).items():
        if not (only_missing and key in st.session_state):
            st.session_state[key] = value


def _seed_controls(defaults: PostDefaults) -> None:
    """Give the controls their values before they are drawn (see the module docstring)."""
    fresh = st.session_state.get(_SEEDED_FROM) != defaults.key
    _set_controls(state.postprocess_config(defaults), only_missing=not fresh)
    st.session_state[_SEEDED_FROM] = defaults.key


def postprocess_controls() -> tuple[PostprocessConfig | None, str]:
    """Draw the post-processing controls and TTA; return the settings (None if invalid).

    Returns
    -------
    post : PostprocessConfig or None
        The controls' values over the session's settings (a card's settings without a
        control here, e.g. ``min_fragment_px``, are kept); None when they do not make a
        valid config (the message is shown).
    tta : {"none", "flips", "d4"}
    """
    defaults = state.postprocess_defaults()
    _seed_controls(defaults)
    st.subheader("Post-processing")
    st.caption(f"Starts from {defaults.source}: {describe_postprocess(defaults.config)}.")
    if defaults.note:
        st.warning(defaults.note)
    threshold = st.slider(
        "Threshold",
        0.05,
        0.95,
        step=0.01,
        key="seg_w_threshold",
        help="A pixel is boundary when its probability exceeds this.",
    )
    closing = st.slider(
        "Closing radius (px)",
        0,
        6,
        key="seg_w_closing",
        help="Joins boundary pieces closer than the disk and fills pin holes.",
    )
    gap = st.slider(
        "Gap closing distance (px)",
        0,
        40,
        key="seg_w_gap",
        help="Bridges loose boundary ends to the nearest boundary within this distance.",
    )
    c1, c2 = st.columns([3, 2])
    min_size = c1.number_input(
        "Minimum grain size (ECD)",
        0.0,
        10000.0,
        step=1.0,
        key="seg_w_min_size",
        help="Smaller grains merge into their neighbour (0 = off).",
    )
    unit = c2.radio("Unit", ["px", "µm"], key="seg_w_min_unit", horizontal=True)
    edge = st.toggle(
        "Exclude edge grains",
        key="seg_w_edge",
        help="Grains cut by the image frame are left out of the statistics.",
    )
    skeleton = st.toggle(
        "Skeletonise boundaries",
        key="seg_w_skeleton",
        help="Thin the boundaries to 1-pixel lines.",
    )
    dead_ends = st.toggle(
        "Remove dead ends",
        key="seg_w_dead_ends",
        disabled=not skeleton,
        help="Drop walls that stop inside a grain: they separate no two grains, yet "
        "intercept lines cross them (the grains stay the same). Needs skeletonised boundaries.",
    )
    st.button(
        "Reset to these defaults",
        on_click=_set_controls,
        args=(defaults.config,),
        key="seg_w_reset_post",
        help=f"Back to {defaults.source}.",
    )
    tta_modes = ["none", "flips", "d4"]
    tta = st.selectbox(
        "Test-time augmentation",
        tta_modes,
        index=tta_modes.index(state.tta_mode()),
        key="seg_w_tta",
        help="Average over flips (4 passes) or all 8 rotations/flips.",
    )
    state.set_tta_mode(tta)
    post = None
    with user_errors("reading the post-processing settings"):
        # Settings without a control here (e.g. a card's min_fragment_px) are kept.
        post = replace(
            state.postprocess_config(defaults),
            threshold=float(threshold),
            closing_radius=int(closing),
            gap_close_px=float(gap),
            min_grain_size=float(min_size),
            min_grain_size_unit="um" if unit == "µm" else "px",
            exclude_edge_grains=bool(edge),
            skeletonize=bool(skeleton),
            prune_dead_ends=bool(dead_ends and skeleton),
        )
        state.set_postprocess_config(post, defaults_key=defaults.key)
    return post, tta
