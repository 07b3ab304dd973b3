"""Rows of download buttons whose files are built only when clicked.

The Segment and Statistics pages offer several files at once (tables, masks, figures).
Each file is a :class:`Download` whose ``data`` is a callable: Streamlit calls it when the
button is clicked, so a slider move never pays for encoding files nobody asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import streamlit as st

__all__ = ["Download", "download_buttons"]


class Download(NamedTuple):
    """One downloadable file: button label, bytes builder, file name, MIME type."""

    label: str
    data: Callable[[], bytes]
    file_name: str
    mime: str


def download_buttons(files: Sequence[Download], *, key_prefix: str, per_row: int) -> None:
    """Draw ``files`` as buttons, ``per_row`` to a row, keyed by ``key_prefix`` + file name.

    Parameters
    ----------
    files : sequence of Download
        File names must differ (they make the widget keys).
    key_prefix : str
        Page prefix of the widget keys (``"seg_dl_"``).
    per_row : int
        Buttons per row of columns.
    """
    for start in range(0, len(files), per_row):
        row = files[start : start + per_row]
        for col, item in zip(st.columns(per_row), row, strict=False):
            col.download_button(
                item.label,
                data=item.data,
                file_name=item.file_name,
                mime=item.mime,
                on_click="ignore",  # a download needs no rerun
                key=f"{key_prefix}{item.file_name}",
            )
