"""Errors and warnings raised by grainseg.

Every error the package raises on bad input subclasses :class:`GrainsegError`, so a
user interface can catch one type and show its message. Messages say *what* was wrong,
*where* (argument, file, row), and *what to do*, in plain words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "GrainsegError",
    "GrainsegWarning",
    "InputError",
    "ImageReadError",
    "UnsupportedFormatError",
    "ImageTooLargeError",
    "AnnotationError",
    "EBSDError",
    "RegistrationError",
    "DatasetError",
    "ModelError",
    "ConfigError",
    "TrainingError",
    "unknown_name_error",
]


class GrainsegError(Exception):
    """Base class of every error grainseg raises on bad input or a failed step."""


class GrainsegWarning(UserWarning):
    """Something was accepted but changed or dropped (clipped vertices, extra TIFF pages)."""


class InputError(GrainsegError, ValueError):
    """An argument has the wrong shape, type, range or value."""


class ImageReadError(GrainsegError):
    """A file or byte string could not be read as an image."""


class UnsupportedFormatError(ImageReadError):
    """The file is of a format grainseg does not read."""


class ImageTooLargeError(ImageReadError):
    """The image has more pixels than the configured limit."""


class AnnotationError(GrainsegError):
    """Polygon annotations (CSV or COCO JSON) could not be parsed."""


class EBSDError(GrainsegError):
    """An EBSD map could not be read or turned into a grain-boundary map."""


class RegistrationError(GrainsegError):
    """SEM and EBSD-derived maps could not be aligned."""


class DatasetError(GrainsegError):
    """A training dataset could not be built or read."""


class ModelError(GrainsegError):
    """A model file or model card is missing, corrupt or inconsistent."""


class ConfigError(GrainsegError, ValueError):
    """A configuration has an unknown name or an out-of-range value."""


class TrainingError(GrainsegError):
    """A training run could not start or continue."""


def unknown_name_error(
    kind: str,
    name: str,
    valid: Iterable[str],
    error: type[GrainsegError] = ConfigError,
) -> GrainsegError:
    """Build the error for an unknown registry name, listing the valid ones.

    Parameters
    ----------
    kind : str
        What the name is for, e.g. ``"architecture"``.
    name : str
        The name that was asked for.
    valid : iterable of str
        The names that exist.
    error : type
        The error class to instantiate.

    Returns
    -------
    GrainsegError
        An error whose message lists the valid names and the closest match.

    Examples
    --------
    >>> str(unknown_name_error("loss", "dcie", ["bce", "dice"]))
    "unknown loss 'dcie'; did you mean 'dice'? Valid names: bce, dice."
    """
    names = sorted(valid)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return error(f"unknown {kind} '{name}'{hint} Valid names: {', '.join(names)}.")
