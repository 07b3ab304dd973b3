"""Pixel size (micrometres per pixel) from the metadata an image file carries.

Sources, first found wins: FEI/Thermo SEM metadata (``[Scan] PixelWidth`` in metres),
Zeiss SEM metadata (``AP_IMAGE_PIXEL_SIZE``), ImageJ's unit with the resolution tags,
the TIFF resolution tags in inch or cm, PNG ``pHYs`` / JPEG JFIF / BMP densities.
SEM metadata is parsed by tifffile (``TiffFile.fei_metadata``, ``sem_metadata``); 72 and
96 dpi and resolution tags without a unit are editor defaults, not a scale, and ignored.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["tiff_pixel_size", "pil_pixel_size"]

PixelSize = tuple[float, str] | tuple[None, None]

# Screen/editor defaults that say nothing about the specimen.
_DEFAULT_DPI = (72.0, 96.0)
_UM_PER_UNIT = {
    "pm": 1e-6,
    "nm": 1e-3,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
}
_NUMBER_UNIT = re.compile(
    r"^\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([A-Za-z\u00b5\u03bc\u00c2]+)\s*$"
)


def _unit_to_um(unit: Any) -> float | None:
    text = str(unit).strip()
    # The micro sign arrives as U+00B5, U+03BC, or mis-decoded latin-1 ("Âµ").
    text = text.replace("\u00c2", "").replace("\u00b5", "u").replace("\u03bc", "u").lower()
    return _UM_PER_UNIT.get(text)


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _fei(tif: Any) -> PixelSize:
    meta = tif.fei_metadata
    if not meta:
        return None, None
    for section in ("Scan", "EScan", "IScan"):
        width = _positive((meta.get(section) or {}).get("PixelWidth"))
        if width is not None:
            return width * 1e6, f"FEI/Thermo SEM metadata [{section}] PixelWidth = {width:g} m"
    return None, None


def _zeiss(tif: Any) -> PixelSize:
    meta = tif.sem_metadata
    if not meta:
        return None, None
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        entry = meta.get(key)
        if not isinstance(entry, tuple) or len(entry) < 2:
            continue
        if len(entry) >= 3:
            value, unit = entry[1], entry[2]
        else:  # tifffile left "12.5nm" (no space) as one string
            match = _NUMBER_UNIT.match(str(entry[1]))
            if not match:
                continue
            value, unit = match.group(1), match.group(2)
        number, factor = _positive(value), _unit_to_um(unit)
        if number is not None and factor is not None:
            return number * factor, f"Zeiss SEM metadata {entry[0]} = {number:g} {unit}"
    return None, None


def _imagej(tif: Any, page: Any) -> PixelSize:
    meta = tif.imagej_metadata
    if not meta or "unit" not in meta or 282 not in page.tags:
        return None, None
    factor = _unit_to_um(meta["unit"])
    per_unit = _positive(page.resolution[0])
    if factor is None or per_unit is None or page.resolutionunit != 1:
        return None, None
    return factor / per_unit, f"ImageJ metadata: {per_unit:g} px per {meta['unit']}"


def _resolution_tags(page: Any) -> PixelSize:
    if 282 not in page.tags:
        return None, None
    per_unit = _positive(page.resolution[0])
    unit = int(page.resolutionunit)
    um_per_unit = {2: 25400.0, 3: 10000.0, 4: 1000.0, 5: 1.0}.get(unit)
    if per_unit is None or um_per_unit is None:  # unit NONE (1): no physical scale
        return None, None
    dpi = per_unit * 25400.0 / um_per_unit
    if any(abs(dpi - d) < 0.01 for d in _DEFAULT_DPI):
        return None, None
    name = {2: "inch", 3: "cm", 4: "mm", 5: "um"}[unit]
    return um_per_unit / per_unit, f"TIFF XResolution = {per_unit:g} px/{name}"


def tiff_pixel_size(tif: Any) -> PixelSize:
    """Pixel size (um, source description) of a ``tifffile.TiffFile``; (None, None) if unknown."""
    page = tif.pages.first
    for finder in (_fei, _zeiss):
        size, source = finder(tif)
        if size is not None:
            return size, source
    for size, source in (_imagej(tif, page), _resolution_tags(page)):
        if size is not None:
            return size, source
    return None, None


def pil_pixel_size(info: dict[str, Any], fmt: str) -> PixelSize:
    """Pixel size from a PIL image's ``info`` (PNG pHYs, JPEG JFIF, BMP density)."""
    dpi = info.get("dpi")
    if not dpi:
        return None, None
    x_dpi = _positive(dpi[0] if isinstance(dpi, (tuple, list)) else dpi)
    if x_dpi is None or any(abs(x_dpi - d) < 0.5 for d in _DEFAULT_DPI):
        return None, None
    um = 25400.0 / x_dpi
    if fmt == "PNG":
        # PIL turns pHYs pixels-per-metre into dpi; say what the file holds.
        return um, f"PNG pHYs = {round(x_dpi / 0.0254)} px/m"
    if fmt == "JPEG" and info.get("jfif_unit") == 2:
        return um, f"JPEG JFIF density = {x_dpi / 2.54:g} px/cm"
    return um, f"{fmt} density = {x_dpi:g} dpi"
