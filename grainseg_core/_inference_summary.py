"""Plain-number summary of a segmentation: grain count, ECD, aspect ratio, ASTM G.

Private module of :mod:`grainseg_core.inference`; import from there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from grainseg_core.astm import intercept_grain_size
from grainseg_core.errors import InputError

__all__ = ["summarize_grains"]


def _stat(values: pd.Series, how: str) -> float | None:
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    value = float(np.mean(finite) if how == "mean" else np.median(finite))
    return value if math.isfinite(value) else None


def summarize_grains(
    table: pd.DataFrame,
    boundary: np.ndarray,
    *,
    pixel_size_um: float | None,
    astm: bool = True,
) -> dict[str, Any]:
    """Summary numbers of one segmentation, JSON-ready (None where undefined).

    Parameters
    ----------
    table : DataFrame
        :func:`grainseg_core.grains.grain_table` of the labels.
    boundary : bool (M, N)
        The boundary mask (for ASTM G and the boundary fraction).
    pixel_size_um : float, optional
        Without it the micrometre figures and G are None.
    astm : bool
        Compute ASTM E112 G by the intercept method (needs ``pixel_size_um``).

    Returns
    -------
    dict
        ``n_grains``, ``boundary_fraction``, ``mean_ecd_px``, ``median_ecd_px``,
        ``mean_ecd_um``, ``median_ecd_um``, ``mean_aspect_ratio``, ``astm_g``,
        ``astm_method``, ``astm_mean_intercept_um``, ``astm_note`` (why G is missing, or
        the ASTM warnings).
    """
    out: dict[str, Any] = {
        "n_grains": int(len(table)),
        "boundary_fraction": float(np.mean(boundary)) if boundary.size else 0.0,
        "mean_ecd_px": _stat(table["ecd_px"], "mean"),
        "median_ecd_px": _stat(table["ecd_px"], "median"),
        "mean_ecd_um": _stat(table["ecd_um"], "mean") if pixel_size_um else None,
        "median_ecd_um": _stat(table["ecd_um"], "median") if pixel_size_um else None,
        "mean_aspect_ratio": _stat(table["aspect_ratio"], "mean"),
        "astm_g": None,
        "astm_method": None,
        "astm_mean_intercept_um": None,
        "astm_note": None,
    }
    if not astm:
        out["astm_note"] = "not computed"
    elif pixel_size_um is None:
        out["astm_note"] = "no pixel size: ASTM G needs micrometres per pixel"
    else:
        try:
            res = intercept_grain_size(boundary, pixel_size_um=pixel_size_um)
        except InputError as exc:
            out["astm_note"] = str(exc)
        else:
            out["astm_g"] = float(res.G) if math.isfinite(res.G) else None
            out["astm_method"] = "E112 intercept (crossings, E112 pattern)"
            out["astm_mean_intercept_um"] = res.mean_intercept_um
            out["astm_note"] = "; ".join(res.warnings) or None
    return out
