"""Writing a segmentation to files: boundary PNG, labels TIFF, grain table CSV, summary JSON.

Private module of :mod:`grainseg_core.inference`; import from there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grainseg_core.errors import InputError
from grainseg_core.io import write_mask

# The same bytes a page offers for download: one encoder for each file kind.
from grainseg_core.reports import labels_tiff, report_json

if TYPE_CHECKING:
    from grainseg_core.inference import SegmentationResult

__all__ = ["save_segmentation", "output_paths"]


def output_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """The files :func:`save_segmentation` writes for ``stem`` (optional ones included)."""
    return {
        "boundary": out_dir / f"{stem}_boundary.png",
        "labels": out_dir / f"{stem}_labels.tif",
        "grains": out_dir / f"{stem}_grains.csv",
        "summary": out_dir / f"{stem}_summary.json",
        "probability": out_dir / f"{stem}_probability.tif",
        "uncertainty": out_dir / f"{stem}_uncertainty.tif",
    }


def save_segmentation(
    result: SegmentationResult,
    out_dir: str | os.PathLike,
    *,
    stem: str,
    extra: dict[str, Any] | None = None,
    probability: bool = False,
) -> dict[str, Path]:
    """Write a :class:`~grainseg_core.inference.SegmentationResult` to ``out_dir``.

    Parameters
    ----------
    result : SegmentationResult
    out_dir : str or path
        Created if missing.
    stem : str
        File-name prefix (usually the image's stem).
    extra : dict, optional
        Added to the summary JSON (e.g. the image path and where the pixel size came from).
    probability : bool
        Also write the probability map (and the uncertainty map of an ensemble) as
        float32 TIFFs.

    Returns
    -------
    dict of str to Path
        ``boundary`` (8-bit PNG, 255 = boundary), ``labels`` (16-bit TIFF, 0 = boundary;
        32-bit beyond 65,535 grains), ``grains`` (CSV, one row per grain), ``summary``
        (JSON: settings, models, grain count, mean/median ECD, mean aspect ratio, ASTM G,
        timings) and, with ``probability``, ``probability`` / ``uncertainty``.

    Raises
    ------
    InputError
        ``out_dir`` is a file or a file cannot be written.
    """
    import tifffile

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output folder '{folder}' is a file; give a folder path.")
    paths = output_paths(folder, stem)
    written: dict[str, Path] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_mask(paths["boundary"], result.boundary)
        written["boundary"] = paths["boundary"]
        # 16-bit TIFF, or 32-bit beyond 65,535 grains (huge mosaics): every label kept.
        paths["labels"].write_bytes(labels_tiff(result.labels))
        written["labels"] = paths["labels"]
        result.grain_table.to_csv(paths["grains"], index=False)
        written["grains"] = paths["grains"]
        if probability:
            tifffile.imwrite(paths["probability"], result.probability, compression="zlib")
            written["probability"] = paths["probability"]
            if result.uncertainty is not None:
                tifffile.imwrite(paths["uncertainty"], result.uncertainty, compression="zlib")
                written["uncertainty"] = paths["uncertainty"]
        summary = {
            **(extra or {}),
            "image_shape": list(result.labels.shape),
            **result.summary(),
            "settings": result.settings,
            "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        }
        from grainseg_core import __version__

        summary["grainseg_version"] = __version__
        summary["files"] = {k: p.name for k, p in {**written, "summary": paths["summary"]}.items()}
        paths["summary"].write_bytes(report_json(summary))
        written["summary"] = paths["summary"]
    except OSError as exc:
        raise InputError(
            f"could not write the results to '{folder}': {exc.strerror or exc}; check that "
            "the folder is writable and the disk is not full."
        ) from exc
    return written
