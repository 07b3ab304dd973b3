"""Read and write polygon CSV files in the Aachen-Heerlen format.

Format (seed 001): one row per polygon, an image with several polygons on several rows::

    image_url;point;polygon
    IMG_00001.png;(120, 45);[(110, 40), (130, 40), (125, 55)]

Tuples are parsed with regular expressions (never ``eval``). Images are matched by the
base name of ``image_url`` only; the path or URL in the file is never opened.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grainseg_core.errors import AnnotationError
from grainseg_core.io._annotation_model import (
    AnnotationSet,
    ImageAnnotations,
    Polygon,
    RowProblem,
    image_base_name,
)
from grainseg_core.io._source import read_source_bytes

__all__ = ["read_polygon_csv", "write_polygon_csv", "CSV_COLUMNS"]

#: Column names of the Aachen-Heerlen polygon CSV, in order.
CSV_COLUMNS: tuple[str, str, str] = ("image_url", "point", "polygon")

# Header names accepted for each column (compared lower-case, stripped).
_ALIASES: dict[str, tuple[str, ...]] = {
    "image_url": ("image_url", "image", "image_name", "file_name", "filename"),
    "point": ("point", "center", "centre", "poi"),
    "polygon": ("polygon", "vertices", "polygon_vertices"),
}
_REQUIRED = ("image_url", "polygon")

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = rf"[(\[]\s*{_NUM}\s*,\s*{_NUM}\s*[)\]]"
# Fast path: a well-formed list of pairs; anything else goes to the diagnosing parser.
_POLYGON_OK = re.compile(rf"\[\s*{_PAIR}(?:\s*,\s*{_PAIR})*\s*,?\s*\]")
_POINT_OK = re.compile(_PAIR)
_NUMBER = re.compile(_NUM)
_GROUP = re.compile(r"[(\[]([^()\[\]]*)[)\]]")


class _CellError(Exception):
    """A cell could not be parsed; carries the column and the reason."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _parse_number(text: str, column: str, where: str) -> float:
    token = text.strip()
    try:
        value = float(token)
    except ValueError:
        shown = token if token else "(empty)"
        raise _CellError(
            column, f"{where} has a non-numeric coordinate '{shown}'; coordinates must be numbers"
        ) from None
    if not math.isfinite(value):
        raise _CellError(
            column,
            f"{where} has a {'NaN' if math.isnan(value) else 'infinite'} coordinate "
            f"'{token}'; coordinates must be finite numbers",
        )
    return value


def _parse_pair(content: str, column: str, where: str) -> tuple[float, float]:
    parts = content.split(",")
    if len(parts) != 2:
        raise _CellError(
            column, f"{where} '({content.strip()})' has {len(parts)} values; expected (x, y)"
        )
    return _parse_number(parts[0], column, where), _parse_number(parts[1], column, where)


def _parse_point(text: str) -> tuple[float, float] | None:
    """Parse ``(x, y)``; None for an empty cell (the centroid is used then)."""
    cell = text.strip()
    if not cell:
        return None
    if _POINT_OK.fullmatch(cell):
        nums = _NUMBER.findall(cell)
        return float(nums[0]), float(nums[1])
    groups = list(_GROUP.finditer(cell))
    if len(groups) != 1 or groups[0].span() != (0, len(cell)):
        raise _CellError("point", f"'{cell[:60]}' is not a point; expected '(x, y)'")
    return _parse_pair(groups[0].group(1), "point", "the point")


def _parse_polygon(text: str) -> np.ndarray:
    """Parse ``[(x, y), ...]`` into a float64 (K, 2) array, with a precise reason on failure."""
    cell = text.strip()
    if _POLYGON_OK.fullmatch(cell):
        values = np.array(_NUMBER.findall(cell), dtype=np.float64).reshape(-1, 2)
    else:
        values = _diagnose_polygon(cell)
    distinct = len({(x, y) for x, y in values.tolist()})
    if distinct < 3:
        raise _CellError(
            "polygon",
            f"has {distinct} distinct vertices; a polygon needs at least 3",
        )
    return values


def _diagnose_polygon(cell: str) -> np.ndarray:
    if not cell:
        raise _CellError("polygon", "is empty; expected a list '[(x, y), (x, y), ...]'")
    if not (cell.startswith("[") and cell.endswith("]")):
        raise _CellError(
            "polygon",
            f"'{cell[:60]}' is not a list of tuples; expected '[(x, y), (x, y), ...]' "
            "(square brackets around round-bracket pairs)",
        )
    inner = cell[1:-1]
    pairs: list[tuple[float, float]] = []
    position = 0
    for k, match in enumerate(_GROUP.finditer(inner), start=1):
        stray = inner[position : match.start()].strip().strip(",").strip()
        if stray or (k > 1 and "," not in inner[position : match.start()]):
            raise _CellError(
                "polygon",
                f"unexpected text '{stray[:30] or ' '}' before vertex {k} (a missing "
                "comma?); "
                "expected '[(x, y), (x, y), ...]'",
            )
        pairs.append(_parse_pair(match.group(1), "polygon", f"vertex {k}"))
        position = match.end()
    tail = inner[position:].strip().lstrip(",").strip()
    if tail not in ("", ","):
        raise _CellError(
            "polygon",
            f"unexpected text '{tail[:30]}' after vertex {len(pairs)} "
            "(an unclosed bracket?); expected '[(x, y), (x, y), ...]'",
        )
    if not pairs:
        raise _CellError("polygon", f"'{cell[:60]}' holds no (x, y) vertices")
    return np.array(pairs, dtype=np.float64)


def _decode(content: bytes, name: str) -> str:
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise AnnotationError(
            f"annotation file '{name}' is UTF-16 text; save it as UTF-8 "
            "(e.g. 'CSV UTF-8' in Excel)."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"annotation file '{name}' is not UTF-8 text (byte 0x{content[exc.start]:02x} at "
            f"offset {exc.start}); save it as UTF-8, or check it is a CSV file at all."
        ) from exc
    if not text.strip():
        raise AnnotationError(
            f"annotation file '{name}' is empty; expected a header "
            f"'{';'.join(CSV_COLUMNS)}' and one row per polygon."
        )
    return text


def _sniff_delimiter(header: str, name: str) -> str:
    # Count separators outside brackets/quotes so tuple commas do not count.
    depth, quoted, counts = 0, False, {";": 0, ",": 0, "\t": 0, "|": 0}
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif ch in counts and depth == 0 and not quoted:
            counts[ch] += 1
    if counts[";"]:
        return ";"
    if counts["\t"]:
        raise AnnotationError(
            f"annotation file '{name}' is tab-separated (found tabs in its first line, no ';'); "
            f"expected ';' as in '{';'.join(CSV_COLUMNS)}' (or ',' with quoted tuples). "
            "Re-save it with ';' separators."
        )
    if counts[","]:
        return ","
    found = "'|'" if counts["|"] else "no separator"
    raise AnnotationError(
        f"annotation file '{name}': found {found} in the first line '{header[:80]}'; "
        f"expected ';' separated columns '{';'.join(CSV_COLUMNS)}' (or ',' with quoted tuples)."
    )


def _map_header(fields: list[str], name: str, delimiter: str) -> dict[str, int] | None:
    """Map column names to indices; None when the first line is data (no header)."""
    cleaned = [f.strip().strip('"').strip().lower() for f in fields]
    mapping: dict[str, int] = {}
    for column, aliases in _ALIASES.items():
        for index, value in enumerate(cleaned):
            if value in aliases:
                mapping[column] = index
                break
    if not mapping:
        looks_like_data = len(fields) >= 3 and _POINT_OK.fullmatch(fields[1].strip()) is not None
        if looks_like_data:
            return None
    missing = [c for c in _REQUIRED if c not in mapping]
    if missing:
        raise AnnotationError(
            f"annotation file '{name}': column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} missing from the header; found "
            f"{[f.strip() for f in fields]} (separator '{delimiter}'), expected "
            f"'{';'.join(CSV_COLUMNS)}'."
        )
    return mapping


def read_polygon_csv(
    source: str | os.PathLike | bytes | Any,
    *,
    strict: bool = True,
    name: str | None = None,
) -> AnnotationSet:
    """Read an Aachen-Heerlen polygon CSV (one row per polygon).

    Parameters
    ----------
    source : path, bytes or binary file object
        The CSV file (a ``str`` is a path, never CSV text: pass text as bytes). Header
        ``image_url;point;polygon`` (any case; a ``,``-separated variant with quoted
        tuples is accepted; a file whose first line is already data is read with the
        columns in that order). ``point`` is ``"(x, y)"`` and optional
        (the polygon's centroid is used when the column or cell is empty); ``polygon``
        is ``"[(x, y), (x, y), ...]"`` with at least 3 distinct vertices.
    strict : bool
        True: the first bad row raises :class:`AnnotationError` naming its line and
        column. False: bad rows are listed in ``report`` and the rest is kept.
    name : str, optional
        File name for messages (e.g. of an upload).

    Returns
    -------
    AnnotationSet
        ``images`` keyed by image base name (first-seen order), ``report`` of rejected
        rows (empty when ``strict``).

    Raises
    ------
    AnnotationError
        Empty file, not UTF-8, wrong separator, missing column; any bad row if ``strict``.

    Notes
    -----
    ``image_url`` values are reduced to their base name (``../x.png``, ``/etc/x``,
    ``http://host/a/IMG_1.png`` and ``C:\\x\\y.png`` give ``x.png``, ``x``, ``IMG_1.png``
    and ``y.png``): images are matched by base name and the path is never opened.

    Examples
    --------
    >>> text = b"image_url;point;polygon\\nIMG_1.png;(1, 1);[(0, 0), (4, 0), (4, 2), (0, 2)]\\n"
    >>> ann = read_polygon_csv(text)
    >>> ann.images["IMG_1.png"].polygons[0].center
    (1.0, 1.0)
    """
    content, label = read_source_bytes(
        source, name=name, what="annotation file", error=AnnotationError
    )
    text = _decode(content, label)
    lines = text.splitlines()
    first = next(line for line in lines if line.strip())
    delimiter = _sniff_delimiter(first, label)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=delimiter == ",")
    rows = iter(reader)
    header: list[str] = []
    for header in rows:
        if any(cell.strip() for cell in header):
            break
    mapping = _map_header(header, label, delimiter)
    records: Iterable[list[str]] = rows
    if mapping is None:  # first line is data: standard column order
        mapping = {"image_url": 0, "point": 1, "polygon": 2}
        records = _chain_first(header, rows)
    n_needed = max(mapping.values()) + 1

    items: list[tuple[str, Polygon]] = []
    problems: list[RowProblem] = []
    for fields in records:
        # The reader has consumed exactly this record, so line_num is its (last) line.
        line = reader.line_num
        if not any(cell.strip() for cell in fields):
            continue
        try:
            items.append(_parse_row(fields, mapping, n_needed, delimiter))
        except _CellError as exc:
            problem = RowProblem(line, exc.column, exc.reason)
            if strict:
                raise AnnotationError(
                    f"annotation file '{label}', {problem}. Fix the row, or read with "
                    "strict=False to skip bad rows and get a report."
                ) from None
            problems.append(problem)
    return AnnotationSet(_group_by_image(items), tuple(problems), label)


def _group_by_image(items: Iterable[tuple[str, Polygon]]) -> dict[str, ImageAnnotations]:
    """Collect (name, polygon) pairs into ImageAnnotations, first-seen order kept."""
    grouped: dict[str, list[Polygon]] = {}
    for name, poly in items:
        grouped.setdefault(name, []).append(poly)
    return {name: ImageAnnotations(name, tuple(polys)) for name, polys in grouped.items()}


def _chain_first(first: list[str], rest: Iterable[list[str]]) -> Iterable[list[str]]:
    yield first
    yield from rest


def _parse_row(
    fields: list[str], mapping: dict[str, int], n_needed: int, delimiter: str
) -> tuple[str, Polygon]:
    if len(fields) < n_needed:
        missing = [c for c, i in mapping.items() if i >= len(fields)]
        raise _CellError(
            missing[0],
            f"row has {len(fields)} field(s) separated by '{delimiter}', the header has "
            f"{n_needed}; '{missing[0]}' is missing",
        )
    if delimiter == "," and len(fields) > n_needed and any("(" in f for f in fields):
        raise _CellError(
            "row",
            f"row has {len(fields)} fields where {n_needed} were expected; in a ','-separated "
            'file the tuple strings must be quoted ("(x, y)")',
        )
    base = image_base_name(fields[mapping["image_url"]])
    if not base:
        raise _CellError(
            "image_url", f"'{fields[mapping['image_url']].strip()}' names no image file"
        )
    xy = _parse_polygon(fields[mapping["polygon"]])
    center = _parse_point(fields[mapping["point"]]) if "point" in mapping else None
    return base, Polygon(xy, center)


def _format_number(value: float) -> str:
    # Integral values as integers (as in the original files); others by repr, which
    # round-trips exactly through float().
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _format_pair(x: float, y: float) -> str:
    return f"({_format_number(x)}, {_format_number(y)})"


def write_polygon_csv(
    annotations: AnnotationSet | Mapping[str, ImageAnnotations] | Iterable[ImageAnnotations],
    destination: str | os.PathLike | None = None,
) -> str:
    """Write polygons as an Aachen-Heerlen CSV (``image_url;point;polygon``).

    Parameters
    ----------
    annotations : AnnotationSet, mapping of name to ImageAnnotations, or iterable of them
        What to write. Images without polygons produce no row (the format has none).
    destination : path, optional
        Where to write (UTF-8, ``\\n`` line ends); the text is returned either way.

    Returns
    -------
    str
        The CSV text. ``read_polygon_csv`` of it gives back the same images and polygons
        (vertices, centers and names; labels and COCO fields are not part of the format).

    Examples
    --------
    >>> ann = ImageAnnotations("a.png", (Polygon([(0, 0), (2, 0), (0, 2)], (0.5, 0.5)),))
    >>> print(write_polygon_csv([ann]), end="")
    image_url;point;polygon
    a.png;(0.5, 0.5);[(0, 0), (2, 0), (0, 2)]
    """
    if isinstance(annotations, AnnotationSet):
        images: Iterable[ImageAnnotations] = annotations.images.values()
    elif isinstance(annotations, Mapping):
        images = annotations.values()
    else:
        images = annotations
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for image in images:
        if not isinstance(image, ImageAnnotations):
            raise AnnotationError(
                f"write_polygon_csv expects ImageAnnotations; got {type(image).__name__}."
            )
        for poly in image.polygons:
            polygon_text = "[" + ", ".join(_format_pair(x, y) for x, y in poly.vertices) + "]"
            writer.writerow([image.image_name, _format_pair(*poly.center), polygon_text])
    text = buffer.getvalue()
    if destination is not None:
        path = Path(destination)
        if not path.parent.is_dir():
            raise AnnotationError(
                f"cannot write '{path}': folder '{path.parent}' does not exist; create it first."
            )
        path.write_text(text, encoding="utf-8", newline="")
    return text
