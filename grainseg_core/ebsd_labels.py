"""From an SEM image and an EBSD map (or a boundary-map image) to a drift-corrected label.

The dataset page's EBSD flow, in core calls:

1. :func:`read_ebsd_files` reads an uploaded EBSD map (``.ang``, ``.ctf``, HDF5, or an
   Oxford ``.cpr`` + ``.crc`` pair) from bytes: it picks the map among the uploaded files,
   says plainly when a file is of the wrong kind or a partner is missing, and hands the
   bytes to :func:`grainseg_core.io.ebsd.read_ebsd` through a private temporary folder
   (file names are reduced to safe base names; nothing is written elsewhere).
   Or :func:`boundary_map_from_image` reads a grain-boundary map drawn as an image.
2. :func:`grainseg_core.ebsd.classify_boundaries` turns the orientations into a boundary
   map (misorientation thresholds, twins).
3. :func:`correct_label` registers the map to the SEM image
   (:func:`grainseg_core.registration.register`) and returns the label before and after
   drift correction, both on the SEM grid, for overlays and width histograms.

Example
-------
>>> from grainseg_core.synthetic import make_microstructure
>>> ms = make_microstructure((256, 256), seed=3, mean_grain_size_px=30)
>>> out = correct_label(ms.image, ms.ebsd.boundary)
>>> out.before.shape == out.corrected.shape == (256, 256)
True
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grainseg_core._validation import as_boundary_mask, check_pixel_size
from grainseg_core.errors import EBSDError, InputError
from grainseg_core.grains import label_grains
from grainseg_core.io import image_base_name, read_image
from grainseg_core.io.ebsd import SUPPORTED_EBSD_EXTENSIONS, EBSDMap, read_ebsd
from grainseg_core.registration import RegistrationConfig, RegistrationResult, register, warp_label
from grainseg_core.types import ProgressCallback

__all__ = [
    "MAP_EXTENSIONS",
    "CorrectedLabel",
    "read_ebsd_files",
    "boundary_map_from_image",
    "boundary_at_sem_scale",
    "correct_label",
]

#: Extensions of single-file EBSD maps (an Oxford map is a ``.cpr`` + ``.crc`` pair).
MAP_EXTENSIONS: tuple[str, ...] = tuple(
    e for e in SUPPORTED_EBSD_EXTENSIONS if e not in (".cpr", ".crc")
)
_IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
_SUPPORTED_TEXT = ".ang, .ctf, .h5/.hdf5/.h5ebsd, or an Oxford .cpr + .crc pair"


def _suffix(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def _safe_name(name: str) -> str:
    base = image_base_name(name)
    stem, suffix = base[: len(base) - len(_suffix(base))], _suffix(base)
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "map"
    return cleaned + suffix


def _pick_map(names: list[str]) -> list[str]:
    """The file names that make one EBSD map, or raise EBSDError saying why not."""
    singles = [n for n in names if _suffix(n) in MAP_EXTENSIONS]
    cpr = {n[:-4].lower(): n for n in names if _suffix(n) == ".cpr"}
    crc = {n[:-4].lower(): n for n in names if _suffix(n) == ".crc"}
    for stem, n in cpr.items():
        if stem not in crc:
            raise EBSDError(
                f"'{n}' is an Oxford header; its data file '{n[:-4]}.crc' is missing. Upload "
                "both files of the pair together."
            )
    for stem, n in crc.items():
        if stem not in cpr:
            raise EBSDError(
                f"'{n}' is Oxford EBSD data; its header '{n[:-4]}.cpr' is missing. Upload "
                "both files of the pair together."
            )
    maps = [[n] for n in singles] + [[cpr[s], crc[s]] for s in cpr]
    if not maps:
        images = [n for n in names if _suffix(n) in _IMAGE_EXTENSIONS]
        hint = (
            f" '{images[0]}' looks like an image: to use a boundary map drawn as an image, "
            "choose the 'boundary-map image' source instead."
            if images
            else ""
        )
        raise EBSDError(
            f"no EBSD map among the uploaded file(s) {names}; expected {_SUPPORTED_TEXT}.{hint}"
        )
    if len(maps) > 1:
        raise EBSDError(
            f"several EBSD maps were uploaded ({', '.join(m[0] for m in maps)}); upload one map "
            "at a time."
        )
    return maps[0]


def read_ebsd_files(files: Mapping[str, bytes]) -> EBSDMap:
    """Read one EBSD map from uploaded files (bytes by name).

    Parameters
    ----------
    files : mapping of str to bytes
        The uploaded files by name (reduced to base names). Exactly one map: a ``.ang``,
        ``.ctf``, ``.h5``/``.hdf5``/``.h5ebsd`` file, or a ``.cpr`` + ``.crc`` pair with
        the same stem. Other files are ignored.

    Returns
    -------
    EBSDMap

    Raises
    ------
    EBSDError
        No map among the files (e.g. an image or a CSV was uploaded), a ``.cpr`` without
        its ``.crc`` or the reverse, several maps, or a file whose content is not an EBSD
        map of its format (the message of :func:`grainseg_core.io.ebsd.read_ebsd`).
    InputError
        ``files`` is not a mapping of names to bytes.

    Examples
    --------
    >>> read_ebsd_files({"scan.png": b"..."})
    Traceback (most recent call last):
    ...
    grainseg_core.errors.EBSDError: no EBSD map among the uploaded file(s) ['scan.png']; ...
    """
    if not isinstance(files, Mapping) or not files:
        raise InputError("files must be a non-empty mapping of file names to bytes.")
    by_name: dict[str, bytes] = {}
    for name, data in files.items():
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"file '{name}' must be bytes; got {type(data).__name__}.")
        by_name[image_base_name(str(name))] = bytes(data)
    chosen = _pick_map(list(by_name))
    with tempfile.TemporaryDirectory(prefix="grainseg-ebsd-") as tmp:
        paths = []
        for n in chosen:
            if not by_name[n]:
                raise EBSDError(f"'{n}' is empty (0 bytes); upload it again.")
            path = Path(tmp) / _safe_name(n)
            path.write_bytes(by_name[n])
            paths.append(path)
        try:
            return read_ebsd(paths[0])
        except EBSDError as exc:
            # Name the user's file, not the temporary copy.
            text = (
                str(exc).replace(str(paths[0].parent) + "/", "").replace(paths[0].name, chosen[0])
            )
            raise EBSDError(text) from exc


def boundary_map_from_image(
    data: bytes | np.ndarray,
    *,
    name: str = "<boundary map>",
    foreground: str = "auto",
    threshold: float = 128.0,
) -> np.ndarray:
    """Read a grain-boundary map drawn as an image into a bool mask.

    Parameters
    ----------
    data : bytes or ndarray (M, N)
        PNG/TIFF/JPEG/BMP bytes, or an already-read gray image.
    name : str
        For messages.
    foreground : {"auto", "white", "black"}
        Colour of the boundaries; ``"auto"`` takes the minority colour (boundaries are
        thin lines, so they cover less than half of a map).
    threshold : float
        On the 0-255 scale (0/1 maps and 16-bit maps are rescaled to it).

    Returns
    -------
    ndarray bool (M, N)
        True = boundary.

    Raises
    ------
    ImageReadError
        Unreadable image bytes.
    InputError
        Bad ``foreground`` or ``threshold``, or a map with no boundary pixel.

    Examples
    --------
    >>> img = np.full((8, 8), 255, np.uint8); img[4] = 0
    >>> boundary_map_from_image(img).sum(axis=1).tolist()
    [0, 0, 0, 0, 8, 0, 0, 0]
    """
    if foreground not in ("auto", "white", "black"):
        raise InputError(f"foreground must be 'auto', 'white' or 'black'; got {foreground!r}.")
    thr = float(threshold)
    if not (math.isfinite(thr) and 0 < thr <= 255):
        raise InputError(f"threshold must lie in (0, 255]; got {threshold!r}.")
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise InputError(f"a boundary map must be a gray (M, N) image; got shape {data.shape}.")
        arr = data
    else:
        arr, _ = read_image(bytes(data), name=name)
    values = arr.astype(np.float32)
    top = float(values.max()) if values.size else 0.0
    if top <= 1.0:
        values = values * 255.0
    elif top > 255.0:
        values = values / 257.0
    white = values >= thr
    if foreground == "auto":
        foreground = "white" if white.mean() <= 0.5 else "black"
    mask = white if foreground == "white" else ~white
    if not mask.any() or mask.all():
        raise InputError(
            f"boundary map '{name}' has {'no' if not mask.any() else 'only'} boundary pixels at "
            f"threshold {thr:g} ({foreground} lines); check the file or the line colour."
        )
    return mask


def boundary_at_sem_scale(boundary: np.ndarray, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Resample a boundary map onto an SEM-sized grid without any drift correction.

    Parameters
    ----------
    boundary : ndarray bool (P, Q)
        EBSD-grid boundary map.
    shape : (M, N)
        SEM image shape.
    scale : float
        EBSD pixels per SEM pixel (``sem_pixel_size_um / ebsd_step_um``;
        :attr:`RegistrationResult.scale`). Pixel areas are aligned at the top-left corner.

    Returns
    -------
    ndarray bool (M, N)
        Lines kept connected (distance warp); False where the map does not reach.

    Examples
    --------
    >>> b = np.zeros((4, 4), bool); b[:, 1] = True
    >>> np.flatnonzero(boundary_at_sem_scale(b, (8, 8), 0.5)[3]).tolist()
    [2, 3]
    """
    mask = as_boundary_mask(boundary, "boundary")
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape must be (rows, cols); got {shape!r}.") from exc
    s = float(scale)
    if not (math.isfinite(s) and s > 0):
        raise InputError(f"scale must be a positive number of EBSD px per SEM px; got {scale!r}.")
    if s == 1.0 and mask.shape == (rows, cols):
        return mask.copy()
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float32)
    # Pixel centres: EBSD index i sits at (i + 0.5) * step, SEM index j at (j + 0.5) * px.
    disp = np.stack([(rr + 0.5) * s - 0.5 - rr, (cc + 0.5) * s - 0.5 - cc]).astype(np.float32)
    return warp_label(mask, disp, method="distance")


@dataclass(frozen=True, eq=False)
class CorrectedLabel:
    """A boundary label on the SEM grid, before and after drift correction.

    Attributes
    ----------
    before : ndarray bool (M, N)
        The map resampled to the SEM pixel size, not corrected.
    corrected : ndarray bool (M, N)
        The map warped by the registration's drift field.
    registration : RegistrationResult
        Drift field, global transform, quality before/after, tiles, warnings.
    pixel_size_um : float or None
        SEM pixel size.
    """

    before: np.ndarray
    corrected: np.ndarray
    registration: RegistrationResult
    pixel_size_um: float | None

    @property
    def labels(self) -> np.ndarray:
        """Grain labels of the corrected map (int32 (M, N), 0 = boundary)."""
        return label_grains(self.corrected)

    @property
    def drift(self) -> np.ndarray:
        """Total drift (2, M, N), package convention."""
        return self.registration.drift


def correct_label(
    sem_image: np.ndarray,
    ebsd_boundary: np.ndarray,
    *,
    sem_pixel_size_um: float | None = None,
    ebsd_step_um: float | None = None,
    config: RegistrationConfig | None = None,
    progress: ProgressCallback | None = None,
) -> CorrectedLabel:
    """Register an EBSD-derived boundary map to its SEM image and correct the drift.

    Parameters
    ----------
    sem_image : ndarray (M, N)
        SEM micrograph.
    ebsd_boundary : ndarray bool (P, Q)
        Boundary map on the EBSD grid (:attr:`EBSDBoundaries.boundary`) or from an image.
    sem_pixel_size_um, ebsd_step_um : float, optional
        Both or neither; their ratio resamples the map (needed when shapes differ).
    config : RegistrationConfig, optional
        Default ``RegistrationConfig()``.
    progress : callable, optional
        ``progress(done, total)`` per registration stage.

    Returns
    -------
    CorrectedLabel

    Raises
    ------
    RegistrationError
        Incompatible shapes without pixel sizes, no overlap, flat image, empty map.

    Examples
    --------
    >>> lab = np.zeros((128, 128), bool); lab[::16] = True; lab[:, ::16] = True
    >>> sem = np.where(np.roll(lab, (3, 2), axis=(0, 1)), 40, 200).astype(np.uint8)
    >>> out = correct_label(sem, lab, config=RegistrationConfig(local=False))
    >>> np.round(out.drift[:, 64, 64]).tolist()
    [-3.0, -2.0]
    """
    size = check_pixel_size(sem_pixel_size_um, "sem_pixel_size_um")
    result = register(
        sem_image,
        ebsd_boundary,
        sem_pixel_size_um=size,
        ebsd_step_um=ebsd_step_um,
        config=RegistrationConfig() if config is None else config,
        progress=progress,
    )
    shape = result.warped_boundary.shape
    before = boundary_at_sem_scale(np.asarray(ebsd_boundary) > 0, shape, result.scale)
    return CorrectedLabel(before, result.warped_boundary, result, size)
