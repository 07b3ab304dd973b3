"""Downloadable results in memory: summary JSON, grain CSV, masks, labels, overlays, tables.

A page offers files for download without touching the disk; these functions turn results
into the bytes of those files (the CLI writes the same files to a folder with
:func:`grainseg_core.inference.save_segmentation`):

- :func:`summary_report` / :func:`report_json`: the settings, models and headline figures
  of a segmentation as strict JSON (NaN and infinity become ``null``);
- :func:`table_csv`: any table (the grain table, a fit table) as UTF-8 CSV;
- :func:`mask_png`: a boundary mask as an 8-bit PNG, 255 = boundary;
- :func:`labels_tiff`: grain labels as a 16-bit TIFF (32-bit beyond 65,535 grains);
- :func:`rgb_png`: an RGB overlay as a PNG (lossless: masks and overlays are never JPEG);
- :func:`fits_table`, :func:`grain_size_table`: distribution fits and ASTM results as
  one row each, for the statistics downloads.

Example
-------
>>> import json
>>> json.loads(report_json({"g": float("nan"), "n": np.int64(3)}))
{'g': None, 'n': 3}
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from grainseg_core._validation import as_2d_array
from grainseg_core.errors import InputError
from grainseg_core.io import write_labels, write_mask

if TYPE_CHECKING:
    from grainseg_core.astm import GrainSizeResult
    from grainseg_core.distributions import DistributionFit
    from grainseg_core.inference import SegmentationResult

__all__ = [
    "jsonable",
    "summary_report",
    "report_json",
    "table_csv",
    "mask_png",
    "labels_tiff",
    "rgb_png",
    "fits_table",
    "grain_size_table",
]


def jsonable(value: Any) -> Any:
    """A strict-JSON copy: NaN/inf -> None, numpy -> Python, tuples -> lists, paths -> str.

    Examples
    --------
    >>> jsonable({"a": (np.float32(1.5), float("inf")), 2: Path("m.json")})
    {'a': [1.5, None], '2': 'm.json'}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def summary_report(
    result: SegmentationResult,
    *,
    image_name: str,
    pixel_size_source: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Settings, models and headline figures of one segmentation, JSON-ready.

    Parameters
    ----------
    result : SegmentationResult
    image_name : str
        The micrograph's file or sample name.
    pixel_size_source : str, optional
        Where the pixel size came from ("typed in", the TIFF tag...).
    extra : mapping, optional
        More entries for the top level (they may not replace the ones set here).

    Returns
    -------
    dict
        ``grainseg_version``, ``image`` (name, shape), ``pixel_size_um``,
        ``pixel_size_source``, ``models``, ``figures`` (:meth:`SegmentationResult.summary`:
        grain count, mean/median ECD, mean aspect ratio, ASTM G with method and note),
        ``settings`` (post-processing, corrections, TTA, models), ``timings_s``.

    Raises
    ------
    InputError
        ``extra`` repeats a key set here.
    """
    from grainseg_core import __version__

    report: dict[str, Any] = {
        "grainseg_version": __version__,
        "image": {"name": str(image_name), "shape": list(result.labels.shape)},
        "pixel_size_um": result.pixel_size_um,
        "pixel_size_source": pixel_size_source,
        "models": list(result.model_names),
        "figures": result.summary(),
        "settings": dict(result.settings),
        "timings_s": {k: round(float(v), 4) for k, v in result.timings.items()},
    }
    for key, value in (extra or {}).items():
        if key in report:
            raise InputError(f"extra entry {key!r} would replace a report entry; rename it.")
        report[key] = value
    return jsonable(report)


def report_json(report: Mapping[str, Any] | Sequence[Any]) -> bytes:
    """Strict, indented UTF-8 JSON of a report (NaN/inf written as null)."""
    return (json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n").encode("utf-8")


def table_csv(table: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV without the index.

    Examples
    --------
    >>> table_csv(pd.DataFrame({"label": [1, 2], "ecd_px": [3.5, 4.0]})).decode().splitlines()
    ['label,ecd_px', '1,3.5', '2,4.0']
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table must be a pandas DataFrame; got {type(table).__name__}.")
    return table.to_csv(index=False).encode("utf-8")


def mask_png(mask: Any) -> bytes:
    """A boundary mask as an 8-bit PNG (0 and 255).

    Examples
    --------
    >>> mask_png(np.eye(8, dtype=bool))[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    buf = io.BytesIO()
    write_mask(buf, mask)
    return buf.getvalue()


def labels_tiff(labels: Any) -> bytes:
    """Grain labels as a zlib TIFF: 16-bit, or 32-bit when there are more than 65,535 grains."""
    arr = as_2d_array(labels, "labels")
    buf = io.BytesIO()
    if arr.size and np.issubdtype(arr.dtype, np.integer) and int(arr.max()) > 65535:
        import tifffile

        if int(arr.min()) < 0:
            raise InputError(f"labels must be >= 0 (0 = boundary); got minimum {int(arr.min())}.")
        tifffile.imwrite(buf, arr.astype(np.uint32), photometric="minisblack", compression="zlib")
    else:
        write_labels(buf, arr)
    return buf.getvalue()


def rgb_png(rgb: Any, *, compress_level: int = 3) -> bytes:
    """An RGB uint8 image (M, N, 3) as a PNG.

    Parameters
    ----------
    rgb : uint8 array (M, N, 3)
    compress_level : int, default 3
        zlib level 0-9 (3 is several times faster than 9 and ~10 % larger).
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(
            f"rgb must be a uint8 array of shape (M, N, 3); got {arr.dtype} of shape {arr.shape}."
        )
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), mode="RGB").save(
        buf, format="PNG", compress_level=int(compress_level)
    )
    return buf.getvalue()


def fits_table(fits: Sequence[DistributionFit]) -> pd.DataFrame:
    """One row per fit: family, variable, n, parameters, log-likelihood, AIC, KS.

    Examples
    --------
    >>> from grainseg_core.distributions import fit_distribution
    >>> t = fits_table([fit_distribution([1.0, 2.0, 4.0], "exponential")])
    >>> str(t.loc[0, "family"]), round(float(t.loc[0, "scale"]), 4)
    ('exponential', 2.3333)
    """
    rows = []
    for f in fits:
        row = {"family": f.family, "variable": f.variable, "n": f.n}
        row.update({k: float(v) for k, v in f.params.items()})
        row.update(
            log_likelihood=f.log_likelihood,
            aic=f.aic,
            ks_statistic=f.ks_statistic,
            ks_pvalue=f.ks_pvalue,
            mean=f.mean,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def grain_size_table(results: Sequence[GrainSizeResult]) -> pd.DataFrame:
    """One row per ASTM measurement: method, G, its 95 % interval, counts, fields, warnings."""
    rows = []
    for r in results:
        s = r.statistics
        rows.append(
            {
                "method": r.method,
                "G": r.G,
                "G_ci95_low": r.G_ci95[0],
                "G_ci95_high": r.G_ci95[1],
                "mean_intercept_um": r.mean_intercept_um,
                "grains_per_mm2": r.grains_per_mm2,
                "n_counts": r.n_counts,
                "n_fields": r.n_fields,
                "field_mean": s.mean,
                "field_std": s.std,
                "field_ci95": s.ci95,
                "relative_accuracy_pct": s.relative_accuracy_pct,
                "warnings": "; ".join(r.warnings),
            }
        )
    return pd.DataFrame(rows)
