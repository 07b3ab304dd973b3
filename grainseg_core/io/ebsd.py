"""Read EBSD orientation maps (.ang, .ctf, HDF5, Oxford .cpr/.crc) into one grid type.

Every reader returns an :class:`EBSDMap`: per-pixel unit quaternions on a square
(row, col) grid, phase ids, phase symmetries, the step size in micrometres and the
quality maps the file carries.

Readers
-------
* ``.ang`` (EDAX TSL, EMsoft, NanoMegas ASTAR, orix), ``.ctf`` (Oxford/Bruker text)
  and HDF5 (``.h5``/``.hdf5``/``.h5ebsd``: orix, EMsoft and Bruker h5ebsd) are read
  by orix (``orix.io.load``); grainseg only places orix's points on the grid.
* Oxford binary ``.cpr``/``.crc`` pairs are read by DefDAP's
  ``OxfordBinaryLoader`` (imported lazily; ``pip install defdap``).

Conventions
-----------
* Orientations follow orix: quaternion ``(a, b, c, d)``, scalar first, from
  Bunge Euler angles with ``orix.quaternion.Rotation.from_euler`` (lab to crystal).
* ``phase_id`` is -1 for a non-indexed pixel (orix's convention: ``.ang`` points
  with CI = -1, ``.ctf``/``.cpr`` points with phase 0); other ids are the file's.
  EDAX single-phase files that store phase 0 for their one header phase are
  mapped to that phase. Quality thresholds (CI, MAD, BC...) are *not* applied on
  reading; use :func:`mask_by_quality` to mark more pixels non-indexed.
* Hexagonal-grid ``.ang`` files (``# GRID: HexGrid``) are resampled to a square
  grid of step ``XSTEP`` by nearest neighbour: each square-grid pixel takes the
  values of the closest hexagonal point. ``metadata["grid"]`` records this.
* The Oxford acquisition-surface rotation is kept in ``metadata`` but not applied:
  one sample rotation common to all pixels leaves every misorientation unchanged.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grainseg_core.errors import EBSDError

__all__ = [
    "SUPPORTED_EBSD_EXTENSIONS",
    "EBSDMap",
    "EBSDPhase",
    "mask_by_quality",
    "read_ebsd",
]

#: File extensions :func:`read_ebsd` accepts (lower case).
SUPPORTED_EBSD_EXTENSIONS: tuple[str, ...] = (
    ".ang",
    ".ctf",
    ".h5",
    ".hdf5",
    ".h5ebsd",
    ".cpr",
    ".crc",
)

_ORIX_EXTENSIONS = {".ang": "ang", ".ctf": "ctf", ".h5": "hdf5", ".hdf5": "hdf5", ".h5ebsd": "hdf5"}

#: Oxford Channel 5 / AZtec Laue group codes (the ``LaueGroup`` key of a .cpr file).
_OXFORD_LAUE_GROUPS = {
    1: "-1",
    2: "2/m",
    3: "mmm",
    4: "4/m",
    5: "4/mmm",
    6: "-3",
    7: "-3m",
    8: "6/m",
    9: "6/mmm",
    10: "m-3",
    11: "m-3m",
}


@functools.lru_cache(maxsize=64)
def _point_group_info(point_group: str) -> tuple[str, str, str | None]:
    """Return (orix name, proper point group name, crystal system) or raise."""
    from orix.crystal_map import Phase  # lazy: orix import is slow

    try:
        pg = Phase(point_group=str(point_group)).point_group
    except ValueError as exc:
        raise EBSDError(
            f"unknown phase symmetry: point group {point_group!r} is not one orix knows "
            "(use a Hermann-Mauguin name such as 'm-3m', '432', '6/mmm' or 'mmm')."
        ) from exc
    if pg is None:
        raise EBSDError(
            "a phase has no point group; EBSD boundaries need each phase's crystal symmetry."
        )
    return pg.name, pg.proper_subgroup.name, pg.system


@dataclass(frozen=True)
class EBSDPhase:
    """One crystallographic phase of an EBSD map.

    Parameters
    ----------
    phase_id : int
        The id used in :attr:`EBSDMap.phase_id` (>= 0).
    name : str
        The phase name from the file.
    point_group : str
        Hermann-Mauguin point group as orix names it (``'m-3m'``, ``'432'``...).
        An unknown name raises :class:`~grainseg_core.errors.EBSDError`.

    Examples
    --------
    >>> EBSDPhase(1, "Ni", "m-3m").proper_point_group
    '432'
    """

    phase_id: int
    name: str
    point_group: str

    def __post_init__(self) -> None:
        name, _, _ = _point_group_info(self.point_group)
        object.__setattr__(self, "point_group", name)
        object.__setattr__(self, "phase_id", int(self.phase_id))
        if self.phase_id < 0:
            raise EBSDError(
                f"phase {self.name!r} has id {self.phase_id}; "
                "ids must be >= 0 (-1 means non-indexed)."
            )

    @property
    def proper_point_group(self) -> str:
        """The rotation subgroup used for misorientations (``'432'`` for m-3m)."""
        return _point_group_info(self.point_group)[1]

    @property
    def crystal_system(self) -> str | None:
        """``'cubic'``, ``'hexagonal'``... as orix names it."""
        return _point_group_info(self.point_group)[2]

    @property
    def is_cubic(self) -> bool:
        """Whether Sigma-3 twin detection applies to this phase."""
        return self.crystal_system == "cubic"


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _check_step(step_size_um: Any) -> tuple[float, float]:
    if step_size_um is None:
        raise EBSDError(
            "missing step size: the EBSD map needs its step size in micrometres "
            "(row, col); give step_size_um or fix the file header."
        )
    values = np.atleast_1d(np.asarray(step_size_um, dtype=float)).ravel()
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise EBSDError(
            "step_size_um must be one or two positive, finite micrometre values (row, col); "
            f"got {step_size_um!r}."
        )
    return float(values[0]), float(values[1])


@dataclass(frozen=True, eq=False)
class EBSDMap:
    """An EBSD map on a square grid; arrays are validated, copied and read-only.

    Parameters
    ----------
    quaternions : np.ndarray, float64 (M, N, 4)
        Unit quaternions ``(a, b, c, d)`` in orix's convention (normalised on
        construction). Values at non-indexed pixels are ignored.
    phase_id : np.ndarray, int32 (M, N)
        Phase id per pixel, -1 for non-indexed.
    phases : mapping of int to EBSDPhase
        Every id >= 0 in ``phase_id`` must be a key.
    step_size_um : float or (float, float)
        Step size in micrometres, (row, col); one value means both.
    quality : mapping of str to np.ndarray (M, N), optional
        Quality maps as the file names them (``iq``, ``ci``, ``MAD``, ``BC``, ``BS``...).
    metadata : mapping, optional
        Source file, format, reader and grid notes.

    Raises
    ------
    EBSDError
        On a wrong shape, a phase id without a phase, non-finite orientations at
        indexed pixels, a missing or non-positive step size, or a map with no
        indexed pixel.

    Examples
    --------
    >>> q = np.zeros((2, 3, 4)); q[..., 0] = 1
    >>> m = EBSDMap(q, np.ones((2, 3), int), {1: EBSDPhase(1, "Ni", "m-3m")}, 0.5)
    >>> m.shape, m.step_size_um, int(m.indexed.sum())
    ((2, 3), (0.5, 0.5), 6)
    """

    quaternions: np.ndarray
    phase_id: np.ndarray
    phases: Mapping[int, EBSDPhase]
    step_size_um: tuple[float, float]
    quality: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        phase_id = np.asarray(self.phase_id)
        if phase_id.ndim != 2 or phase_id.size == 0:
            raise EBSDError(
                f"phase_id must be a non-empty 2-D array (M, N); got shape {phase_id.shape}."
            )
        if not np.issubdtype(phase_id.dtype, np.integer):
            raise EBSDError(
                f"phase_id must hold integers (-1 = non-indexed); got dtype {phase_id.dtype}."
            )
        shape = phase_id.shape
        quats = np.asarray(self.quaternions, dtype=np.float64)
        if quats.shape != (*shape, 4):
            raise EBSDError(
                f"quaternions must have shape {(*shape, 4)} to match phase_id; got {quats.shape}."
            )
        phases = dict(self.phases)
        for key, phase in phases.items():
            if not isinstance(phase, EBSDPhase) or phase.phase_id != key:
                raise EBSDError(
                    f"phases[{key!r}] must be an EBSDPhase with phase_id {key}; got {phase!r}."
                )
        ids = np.unique(phase_id)
        if ids.min() < -1:
            raise EBSDError(
                f"phase_id values must be >= -1 (-1 = non-indexed); found {int(ids.min())}."
            )
        missing = sorted(int(i) for i in ids if i >= 0 and int(i) not in phases)
        if missing:
            raise EBSDError(
                f"phase ids {missing} occur in the map but have no phase "
                f"(known ids: {sorted(phases)}); "
                "the file's phase table is incomplete."
            )
        indexed = phase_id >= 0
        if not indexed.any():
            raise EBSDError(
                "the EBSD map has no indexed pixel (every pixel is non-indexed); "
                "check the file, or loosen the quality threshold."
            )
        quats = quats.copy()
        bad = ~np.isfinite(quats).all(axis=-1)
        norms = np.linalg.norm(np.where(bad[..., None], 1.0, quats), axis=-1)
        if np.any((bad | (norms < 1e-12)) & indexed):
            raise EBSDError(
                "quaternions are non-finite or zero at indexed pixels; "
                "the orientation data is corrupt."
            )
        quats[bad | (norms < 1e-12)] = (1.0, 0.0, 0.0, 0.0)
        norms = np.linalg.norm(quats, axis=-1)
        quats /= norms[..., None]
        quality = {}
        for key, value in dict(self.quality).items():
            arr = np.asarray(value)
            if arr.shape != shape:
                raise EBSDError(f"quality[{key!r}] has shape {arr.shape}; expected {shape}.")
            quality[str(key)] = _readonly(arr)
        object.__setattr__(self, "quaternions", _readonly(quats))
        object.__setattr__(self, "phase_id", _readonly(phase_id.astype(np.int32)))
        object.__setattr__(self, "phases", phases)
        object.__setattr__(self, "step_size_um", _check_step(self.step_size_um))
        object.__setattr__(self, "quality", quality)
        object.__setattr__(self, "metadata", dict(self.metadata))

    @classmethod
    def from_euler(
        cls,
        euler: np.ndarray,
        phase_id: np.ndarray,
        phases: Mapping[int, EBSDPhase],
        step_size_um: float | tuple[float, float],
        *,
        degrees: bool = False,
        quality: Mapping[str, np.ndarray] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> EBSDMap:
        """Build a map from Bunge Euler angles (M, N, 3) via orix.

        Examples
        --------
        >>> e = np.zeros((1, 2, 3)); e[0, 1, 0] = 30
        >>> fe = {1: EBSDPhase(1, "Fe", "m-3m")}
        >>> m = EBSDMap.from_euler(e, np.ones((1, 2), int), fe, 1.0, degrees=True)
        >>> m.quaternions.shape
        (1, 2, 4)
        """
        from orix.quaternion import Rotation  # lazy: orix import is slow

        euler = np.asarray(euler, dtype=np.float64)
        if euler.ndim != 3 or euler.shape[-1] != 3:
            raise EBSDError(f"euler must have shape (M, N, 3); got {euler.shape}.")
        rot = Rotation.from_euler(euler.reshape(-1, 3), degrees=degrees)
        quats = np.asarray(rot.data).reshape(*euler.shape[:2], 4)
        return cls(quats, phase_id, phases, step_size_um, quality or {}, metadata or {})

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape (M, N)."""
        return tuple(self.phase_id.shape)  # type: ignore[return-value]

    @property
    def indexed(self) -> np.ndarray:
        """bool (M, N): True where the pixel is indexed (``phase_id >= 0``)."""
        return self.phase_id >= 0

    def rotations(self):  # -> orix.quaternion.Rotation
        """The orientations as an orix ``Rotation`` of shape (M, N)."""
        from orix.quaternion import Rotation

        return Rotation(self.quaternions)


def mask_by_quality(
    ebsd: EBSDMap,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> EBSDMap:
    """Mark pixels whose quality value lies outside [minimum, maximum] as non-indexed.

    Parameters
    ----------
    ebsd : EBSDMap
        The map.
    name : str
        A key of ``ebsd.quality`` (e.g. ``'ci'`` with ``minimum=0.1``, or
        ``'MAD'`` with ``maximum=1.0``).
    minimum, maximum : float, optional
        Bounds kept (inclusive). NaN values count as outside.

    Returns
    -------
    EBSDMap
        A new map with ``phase_id`` set to -1 where the test fails.

    Examples
    --------
    >>> q = np.zeros((1, 2, 4)); q[..., 0] = 1
    >>> m = EBSDMap(q, np.ones((1, 2), int), {1: EBSDPhase(1, "Ni", "m-3m")}, 1.0,
    ...             quality={"ci": np.array([[0.05, 0.5]])})
    >>> mask_by_quality(m, "ci", minimum=0.1).phase_id.tolist()
    [[-1, 1]]
    """
    if name not in ebsd.quality:
        raise EBSDError(
            f"quality map {name!r} is not in this EBSD map; it has {sorted(ebsd.quality)}."
        )
    if minimum is None and maximum is None:
        raise EBSDError("mask_by_quality needs minimum, maximum or both.")
    value = np.asarray(ebsd.quality[name], dtype=np.float64)
    keep = np.isfinite(value)
    if minimum is not None:
        keep &= value >= minimum
    if maximum is not None:
        keep &= value <= maximum
    phase_id = np.where(keep, ebsd.phase_id, -1)
    return EBSDMap(
        ebsd.quaternions, phase_id, ebsd.phases, ebsd.step_size_um, ebsd.quality, ebsd.metadata
    )


# ------------------------------------------------------------------ readers


def read_ebsd(path: str | os.PathLike) -> EBSDMap:
    """Read an EBSD map file into an :class:`EBSDMap`.

    Parameters
    ----------
    path : str or path-like
        An ``.ang``, ``.ctf``, ``.h5``/``.hdf5``/``.h5ebsd`` file, or either file
        of an Oxford ``.cpr``/``.crc`` pair (both must sit side by side).

    Returns
    -------
    EBSDMap
        Orientations, phases, step size (um), quality maps and metadata.

    Raises
    ------
    EBSDError
        Missing file, unsupported extension, a file that is not an EBSD map of its
        format, a phase with an unknown point group, a missing step size, or a map
        in which every pixel is non-indexed.

    Examples
    --------
    >>> ebsd = read_ebsd("map.ang")  # doctest: +SKIP
    >>> ebsd.shape, ebsd.step_size_um  # doctest: +SKIP
    ((100, 117), (1.5, 1.5))
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EBSD_EXTENSIONS:
        raise EBSDError(
            f"{path.name}: unsupported EBSD file extension {ext or '(none)'!r}; "
            f"supported: {', '.join(SUPPORTED_EBSD_EXTENSIONS)}."
        )
    if ext in (".cpr", ".crc"):
        return _read_oxford_binary(path)
    if not path.is_file():
        raise EBSDError(f"EBSD file not found: {path}.")
    return _read_with_orix(path, _ORIX_EXTENSIONS[ext])


def _ang_header(path: Path) -> dict[str, str]:
    """Grid keys of an .ang header (orix does not read GRID/XSTEP/YSTEP)."""
    keys: dict[str, str] = {}
    with open(path, "rb") as fh:
        for _ in range(1000):
            line = fh.readline()
            if not line.startswith(b"#"):
                break
            match = re.match(rb"#\s*(GRID|XSTEP|YSTEP)\s*:\s*(\S+)", line)
            if match:
                keys[match.group(1).decode()] = match.group(2).decode("ascii", "replace")
    return keys


def _load_orix(path: Path, fmt: str):
    import orix.io  # lazy: orix import is slow

    kwargs = {"autogen_names": False} if fmt == "ang" else {}
    try:
        return orix.io.load(str(path), **kwargs)
    except Exception as exc:
        if "valid point group" in str(exc):
            raise EBSDError(
                f"{path.name}: unknown phase symmetry in the header ({exc}); "
                "fix the phase's point group (e.g. 'm-3m', '6/mmm')."
            ) from exc
        label = {"ang": ".ang", "ctf": ".ctf", "hdf5": "HDF5 (orix, EMsoft or Bruker h5ebsd)"}[fmt]
        raise EBSDError(
            f"{path.name} could not be read as an EBSD map in {label} format "
            f"({type(exc).__name__}: {exc}); "
            "check that the file is an EBSD export of that format and is complete."
        ) from exc


def _read_with_orix(path: Path, fmt: str) -> EBSDMap:
    header = _ang_header(path) if fmt == "ang" else {}
    hexgrid = header.get("GRID", "").lower() == "hexgrid"
    xmap = _load_orix(path, fmt)
    unit_scale = 1e-3 if getattr(xmap, "scan_unit", "um") == "nm" else 1.0
    rot = np.asarray(xmap.rotations.data, dtype=np.float64).reshape(-1, 4)
    phase_flat = np.asarray(xmap.phase_id).astype(np.int64).ravel()
    props = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in xmap.prop.items()}
    phases, phase_flat = _phases_from_orix(path, xmap, phase_flat)
    metadata: dict[str, Any] = {
        "source": str(path),
        "format": fmt,
        "reader": "orix",
        "scan_unit": xmap.scan_unit,
    }
    if hexgrid:
        step = _header_step(path, header, "XSTEP") * unit_scale
        grid_index, shape = _hex_to_square(
            np.asarray(xmap.x) * unit_scale, np.asarray(xmap.y) * unit_scale, step
        )
        steps = (step, step)
        metadata["grid"] = "HexGrid resampled to a square grid (nearest neighbour)"
    else:
        grid_index, shape, steps = _square_grid(path, xmap, unit_scale)
        metadata["grid"] = "SqrGrid"
    quats = np.zeros((*shape, 4))
    quats[..., 0] = 1.0
    phase_id = np.full(shape, -1, dtype=np.int32)
    quality = {k: np.full(shape, np.nan) for k in props}
    valid = grid_index >= 0
    quats[valid] = rot[grid_index[valid]]
    phase_id[valid] = phase_flat[grid_index[valid]]
    for key, values in props.items():
        quality[key][valid] = values[grid_index[valid]]
    return _build(path, lambda: EBSDMap(quats, phase_id, phases, steps, quality, metadata))


def _build(path: Path, make) -> EBSDMap:
    """Run ``make()`` and prefix the file name to a validation error."""
    try:
        return make()
    except EBSDError as exc:
        raise EBSDError(f"{path.name}: {exc}") from exc


def _phases_from_orix(
    path: Path, xmap, phase_flat: np.ndarray
) -> tuple[dict[int, EBSDPhase], np.ndarray]:
    orix_phases = {int(pid): ph for pid, ph in xmap.phases if int(pid) >= 0}
    used = sorted({int(i) for i in np.unique(phase_flat) if i >= 0})
    if used == [0] and 0 not in orix_phases and len(orix_phases) == 1:
        # EDAX single-phase files store phase 0 for their only header phase.
        (only,) = orix_phases
        phase_flat = np.where(phase_flat == 0, only, phase_flat)
        used = [only]
    phases = {}
    for pid in used:
        ph = orix_phases.get(pid)
        if ph is None or ph.point_group is None:
            raise EBSDError(
                f"{path.name}: unknown phase symmetry for phase id {pid} "
                f"({'not in the header' if ph is None else 'no point group in the header'}); "
                "the file must list each phase with its point group."
            )
        phases[pid] = EBSDPhase(pid, str(ph.name), ph.point_group.name)
    return phases, phase_flat


def _header_step(path: Path, header: dict[str, str], key: str) -> float:
    try:
        value = float(header[key])
    except (KeyError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise EBSDError(
            f"{path.name}: missing step size: the header has no positive {key}; fix the header."
        )
    return value


def _square_grid(
    path: Path, xmap, unit_scale: float
) -> tuple[np.ndarray, tuple[int, int], tuple[float, float]]:
    """Flat-point index per grid pixel (-1 = no point), shape and (row, col) step."""
    # orix drops a coordinate axis whose values are all equal (x/y become None).
    if xmap.size > 1 and (len(xmap.shape) == 0 or (xmap.x is None and xmap.y is None)):
        raise EBSDError(
            f"{path.name}: missing step size: all {xmap.size} points have the same "
            "x/y coordinates, "
            "so neither the step nor the grid can be known; export the map with coordinates."
        )
    shape = tuple(int(s) for s in xmap.shape)
    if len(shape) == 1:
        # A one-line map: orix keeps only the varying axis.
        shape = (shape[0], 1) if xmap.x is None else (1, shape[0])
    if len(shape) != 2:
        raise EBSDError(f"{path.name}: expected a 2-D map; orix found shape {shape}.")
    try:
        rows = (
            np.zeros(xmap.size, np.int64)
            if shape[0] == 1
            else np.asarray(xmap.row, np.int64).ravel()
        )
        cols = (
            np.zeros(xmap.size, np.int64)
            if shape[1] == 1
            else np.asarray(xmap.col, np.int64).ravel()
        )
    except (IndexError, ValueError, TypeError) as exc:
        raise EBSDError(
            f"{path.name}: the x/y coordinates do not form a regular grid ({exc}); "
            "missing step size or coordinates in the file."
        ) from exc
    if (
        len(cols) != xmap.size
        or len(rows) != xmap.size
        or rows.max() >= shape[0]
        or cols.max() >= shape[1]
    ):
        raise EBSDError(f"{path.name}: the x/y coordinates do not form a regular {shape} grid.")
    dy = float(xmap.dy) * unit_scale if shape[0] > 1 else math.nan
    dx = float(xmap.dx) * unit_scale if shape[1] > 1 else math.nan
    dy = dx if not math.isfinite(dy) else dy
    dx = dy if not math.isfinite(dx) else dx
    if not (math.isfinite(dx) and math.isfinite(dy) and dx > 0 and dy > 0):
        raise EBSDError(
            f"{path.name}: missing step size: the point coordinates give no positive step "
            f"(dx={xmap.dx}, dy={xmap.dy}); the file needs x/y coordinates in micrometres."
        )
    flat = rows * shape[1] + cols
    if np.unique(flat).size != flat.size:
        raise EBSDError(
            f"{path.name}: several points share one grid position; the coordinates are not a grid."
        )
    index = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    index[flat] = np.arange(flat.size)
    return index.reshape(shape), shape, (dy, dx)


def _hex_to_square(x: np.ndarray, y: np.ndarray, step: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Nearest hexagonal point (index) for each pixel of a square grid of ``step``."""
    from scipy.spatial import cKDTree

    x0, y0 = float(x.min()), float(y.min())
    n_cols = math.floor((float(x.max()) - x0) / step + 0.5) + 1
    n_rows = math.floor((float(y.max()) - y0) / step + 0.5) + 1
    rr, cc = np.mgrid[0:n_rows, 0:n_cols]
    tree = cKDTree(np.column_stack([y - y0, x - x0]))
    _, idx = tree.query(np.column_stack([rr.ravel() * step, cc.ravel() * step]))
    return idx.reshape(n_rows, n_cols).astype(np.int64), (n_rows, n_cols)


def _read_oxford_binary(path: Path) -> EBSDMap:
    cpr, crc = path.with_suffix(".cpr"), path.with_suffix(".crc")
    for part in (cpr, crc):
        if not part.is_file():
            raise EBSDError(
                f"EBSD file not found: {part} (an Oxford map needs both the .cpr header "
                "and the .crc data, side by side)."
            )
    try:
        from defdap.file_readers import OxfordBinaryLoader
    except ImportError as exc:
        raise EBSDError(
            "reading Oxford .cpr/.crc files needs DefDAP (pip install defdap); "
            "or export the map as .ctf from AZtec/Channel 5."
        ) from exc
    loader = OxfordBinaryLoader()
    try:
        loader.load(cpr)
    except KeyError as exc:
        key = str(exc.args[0]) if exc.args else ""
        if key.startswith("GridDist"):
            raise EBSDError(
                f"{cpr.name}: missing step size ({key} in [Job]); fix the .cpr header."
            ) from exc
        raise EBSDError(
            f"{cpr.name} is not a valid Oxford .cpr header: missing key {key!r}."
        ) from exc
    except Exception as exc:
        if "laue group" in str(exc).lower():
            raise EBSDError(
                f"{cpr.name}: unknown phase symmetry ({exc}); known Oxford LaueGroup codes are "
                f"{sorted(_OXFORD_LAUE_GROUPS)} (11 = m-3m)."
            ) from exc
        raise EBSDError(
            f"{cpr.name}/{crc.name} could not be read as an Oxford binary EBSD map "
            f"({type(exc).__name__}: {exc}); check that both files come from the same export."
        ) from exc
    meta = loader.loaded_metadata
    data = loader.loaded_data
    step = float(meta["step_size"])
    if not math.isfinite(step) or step <= 0:
        raise EBSDError(f"{cpr.name}: missing step size (GridDistX = {step}); fix the .cpr header.")
    phases = {}
    for i, ph in enumerate(meta["phases"], start=1):
        laue = int(ph.laue_group)
        if laue not in _OXFORD_LAUE_GROUPS:
            raise EBSDError(
                f"{cpr.name}: unknown phase symmetry: phase {ph.name!r} has LaueGroup={laue}; "
                f"known Oxford codes are {sorted(_OXFORD_LAUE_GROUPS)}."
            )
        phases[i] = EBSDPhase(i, str(ph.name), _OXFORD_LAUE_GROUPS[laue])
    phase_id = np.asarray(data.phase).astype(np.int32)
    phase_id[phase_id == 0] = -1  # Oxford: phase 0 = non-indexed
    euler = np.moveaxis(np.asarray(data.euler_angle, dtype=np.float64), 0, -1)
    quality = {
        "MAD": np.asarray(data.mean_angular_deviation, dtype=np.float32),
        "BC": np.asarray(data.band_contrast),
        "BS": np.asarray(data.band_slope),
    }
    acq = np.asarray(meta["acquisition_rotation"].quat_coef, dtype=float).tolist()
    metadata = {
        "source": str(cpr),
        "format": "oxford_binary",
        "reader": "defdap",
        "grid": "SqrGrid",
        "acquisition_rotation_quat": acq,
    }
    return _build(
        cpr,
        lambda: EBSDMap.from_euler(
            euler, phase_id, phases, step, quality=quality, metadata=metadata
        ),
    )
