"""Streamlit-side helpers of the grainseg dashboard (never imported by ``grainseg_core``).

- :mod:`ui.state`: session-state keys and accessors shared by every page;
- :mod:`ui.cache`: ``st.cache_resource`` / ``st.cache_data`` wrappers around the core;
- :mod:`ui.errors`: :func:`~ui.errors.user_errors`, core errors shown in plain words;
- :mod:`ui.sidebar`: the shared sidebar of ``app.py``;
- :mod:`ui.navigation`: :func:`~ui.navigation.ensure_navigation`, first call of every page;
- :mod:`ui.postprocess_defaults`: where post-processing controls start (the model's card);
- :mod:`ui.downloads`: rows of download buttons built on click;
- ``ui/segment_*.py``, ``ui/stats_*.py``: pieces of the Segment and Statistics pages.

Pages import these modules; nothing here holds science (that is ``grainseg_core``).
"""
