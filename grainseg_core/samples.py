"""Bundled sample micrographs with grain-boundary labels, for demos and tests.

The samples live in the repository's ``samples/`` folder (or ``$GRAINSEG_SAMPLES_DIR``):
one sub-folder per sample with ``image.png``, ``boundary.png`` (255 = boundary) and
``meta.json``; ``samples/index.json`` gives their order, the first being the
default (the NIST steel micrograph). Sources and licences: ``samples/SOURCES.md``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grainseg_core._validation import check_pixel_size
from grainseg_core.errors import DatasetError, InputError, unknown_name_error
from grainseg_core.io import read_image

__all__ = ["SampleInfo", "Sample", "samples_dir", "list_samples", "load_sample"]


@dataclass(frozen=True)
class SampleInfo:
    """What a sample is, without loading its pixels.

    Attributes
    ----------
    name : str
        Identifier for :func:`load_sample`.
    title : str
        One-line title for a menu.
    description : str
        A few sentences on what it shows.
    kind : str
        ``"real"`` or ``"synthetic"``.
    has_label : bool
        Whether a grain-boundary mask comes with it.
    pixel_size_um : float or None
        Micrometres per pixel.
    source : str
        Where it comes from.
    licence : str
        Its licence (details in ``samples/SOURCES.md``).
    """

    name: str
    title: str
    description: str
    kind: str
    has_label: bool
    pixel_size_um: float | None
    source: str
    licence: str


@dataclass(frozen=True, eq=False)
class Sample:
    """A loaded sample.

    Attributes
    ----------
    name : str
    image : ndarray (M, N)
        The micrograph, uint8 gray.
    boundary : bool ndarray (M, N) or None
        Grain-boundary mask (True = boundary).
    pixel_size_um : float or None
    meta : dict
        The sample's ``meta.json`` (seed and generator config for synthetic ones).
    info : SampleInfo
    """

    name: str
    image: np.ndarray
    boundary: np.ndarray | None
    pixel_size_um: float | None
    meta: dict[str, Any] = field(repr=False)
    info: SampleInfo = field(repr=False)


def samples_dir() -> Path:
    """Return the samples folder: ``$GRAINSEG_SAMPLES_DIR``, else the repository's ``samples/``."""
    env = os.environ.get("GRAINSEG_SAMPLES_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "samples"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(
            f"sample file '{path}' is missing; restore the samples folder "
            "(or point GRAINSEG_SAMPLES_DIR at a complete copy)."
        ) from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"sample file '{path}' could not be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DatasetError(
            f"sample file '{path}' must hold a JSON object; got {type(data).__name__}."
        )
    return data


def _names(root: Path) -> list[str]:
    names = _read_json(root / "index.json").get("samples")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"'{root / 'index.json'}' must hold {{\"samples\": [names...]}}.")
    return names


def _info(root: Path, name: str) -> tuple[SampleInfo, dict[str, Any]]:
    meta = _read_json(root / name / "meta.json")
    try:
        pixel = check_pixel_size(meta.get("pixel_size_um"))
    except InputError as exc:
        raise DatasetError(f"'{root / name / 'meta.json'}': {exc}") from exc
    files = meta.get("files", {})
    info = SampleInfo(
        name=name,
        title=str(meta.get("title", name)),
        description=str(meta.get("description", "")),
        kind=str(meta.get("kind", "real")),
        has_label=bool(files.get("boundary")),
        pixel_size_um=pixel,
        source=str(meta.get("source", "")),
        licence=str(meta.get("licence", "")),
    )
    return info, meta


def list_samples() -> list[SampleInfo]:
    """List the bundled samples, the default (NIST steel) first.

    Returns
    -------
    list of SampleInfo

    Raises
    ------
    DatasetError
        If the samples folder, its ``index.json`` or a ``meta.json`` is missing or broken.

    Examples
    --------
    >>> infos = list_samples()
    >>> infos[0].name, round(infos[0].pixel_size_um * 222, 9)
    ('nist_steel', 50.0)
    """
    root = samples_dir()
    return [_info(root, name)[0] for name in _names(root)]


def load_sample(name: str) -> Sample:
    """Load a bundled sample's image, boundary mask and pixel size.

    Parameters
    ----------
    name : str
        One of the names of :func:`list_samples`.

    Returns
    -------
    Sample
        ``image`` uint8 (M, N), ``boundary`` bool (M, N) or None, ``pixel_size_um``, ``meta``.

    Raises
    ------
    InputError
        If ``name`` is not a sample (the message lists the valid names).
    DatasetError, ImageReadError
        If the sample's files are missing or broken.

    Examples
    --------
    >>> s = load_sample("nist_steel")
    >>> s.image.shape, s.boundary.dtype, s.boundary.shape == s.image.shape
    ((600, 800), dtype('bool'), True)
    """
    root = samples_dir()
    names = _names(root)
    if not isinstance(name, str) or name not in names:
        raise unknown_name_error("sample", str(name), names, InputError)
    info, meta = _info(root, name)
    files = meta.get("files", {})
    image, _ = read_image(root / name / files.get("image", "image.png"))
    boundary = None
    if info.has_label:
        mask, _ = read_image(root / name / files["boundary"])
        if mask.shape != image.shape:
            raise DatasetError(
                f"sample '{name}': boundary mask (shape {mask.shape}) must match its image "
                f"(shape {image.shape}); restore the sample's files."
            )
        boundary = mask > 0
    return Sample(
        name=name,
        image=image,
        boundary=boundary,
        pixel_size_um=info.pixel_size_um,
        meta=meta,
        info=info,
    )
