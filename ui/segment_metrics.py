"""Headline numbers of a segmentation as (label, value, help) triples for ``st.metric``.

Values are formatted for people: micrometres when the pixel size is known, pixels
otherwise; a dash where a number cannot be computed (the help text says why).
"""

from __future__ import annotations

from typing import Any

__all__ = ["headline_metrics", "astm_caption"]

_DASH = "—"


def _size(summary: dict[str, Any], which: str) -> tuple[str, str]:
    um = summary.get(f"{which}_ecd_um")
    px = summary.get(f"{which}_ecd_px")
    if um is not None:
        return f"{um:.3g} µm", f"{which} equivalent circle diameter ({px:.1f} px)" if px else ""
    if px is not None:
        return f"{px:.1f} px", f"{which} equivalent circle diameter (no pixel size: pixels)"
    return _DASH, "no grains"


def headline_metrics(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, value, help) for grain count, mean/median ECD, mean aspect ratio, ASTM G.

    Parameters
    ----------
    summary : dict
        :meth:`grainseg_core.inference.SegmentationResult.summary`.

    Examples
    --------
    >>> m = headline_metrics({"n_grains": 12, "mean_ecd_px": 10.0, "median_ecd_px": 9.0,
    ...                       "mean_aspect_ratio": 1.5, "astm_g": None})
    >>> [value for _, value, _ in m]
    ['12', '10.0 px', '9.0 px', '1.50', '—']
    """
    mean_v, mean_h = _size(summary, "mean")
    median_v, median_h = _size(summary, "median")
    ar = summary.get("mean_aspect_ratio")
    g = summary.get("astm_g")
    out = [
        ("Grains", f"{int(summary.get('n_grains', 0))}", "grains found (4-connected regions)"),
        ("Mean ECD", mean_v, mean_h),
        ("Median ECD", median_v, median_h),
        (
            "Mean aspect ratio",
            f"{ar:.2f}" if ar is not None else _DASH,
            "major / minor axis of each grain's equivalent ellipse (PCA), averaged",
        ),
        ("ASTM G", f"{g:.2f}" if g is not None else _DASH, astm_caption(summary)),
    ]
    if summary.get("mean_uncertainty") is not None:
        out.append(
            (
                "Mean uncertainty",
                f"{summary['mean_uncertainty']:.3f}",
                "mean per-pixel standard deviation of the ensemble's probabilities",
            )
        )
    return out


def astm_caption(summary: dict[str, Any]) -> str:
    """The ASTM G method and its warnings (or why G is missing), in one line.

    Examples
    --------
    >>> astm_caption({"astm_g": 7.1, "astm_method": "E112 intercept", "astm_note": None})
    'E112 intercept'
    """
    method = summary.get("astm_method")
    note = summary.get("astm_note")
    if summary.get("astm_g") is None:
        return f"ASTM G not computed: {note}" if note else "ASTM G not computed"
    return f"{method}; {note}" if note else str(method)
