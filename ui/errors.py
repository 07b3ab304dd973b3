"""Show errors from the core in plain words, without a traceback or lost session state.

Every page wraps a section that calls the core in :func:`user_errors`::

    with user_errors("reading the upload") as outcome:
        image, meta = read_image(data, name=name)
    if outcome.failed:
        ...  # keep showing what was there before

A :class:`~grainseg_core.errors.GrainsegError` becomes ``st.error(message)`` (the core's
messages already say what was wrong and what to do). Anything else is a bug, not the user's
fault: it becomes a short message and a log line with the traceback for the maintainer.
Either way the exception stops only the ``with`` block: the rest of the page runs and
``st.session_state`` keeps every earlier result. Streamlit's own control flow (``st.stop``,
``st.rerun``) derives from ``BaseException`` and passes through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

from grainseg_core.errors import GrainsegError

__all__ = ["ErrorOutcome", "user_errors", "error_message", "logged_message"]

_LOG = logging.getLogger("grainseg.app")


@dataclass
class ErrorOutcome:
    """What happened inside a :func:`user_errors` block.

    Attributes
    ----------
    error : BaseException or None
        The exception that stopped the block, if any.
    message : str or None
        The text shown to the user.
    """

    error: BaseException | None = None
    message: str | None = None

    @property
    def failed(self) -> bool:
        """True when the block was stopped by an error."""
        return self.error is not None


def error_message(exc: BaseException, what: str | None = None) -> str:
    """The plain-words text shown for ``exc``.

    Parameters
    ----------
    exc : BaseException
    what : str, optional
        What the app was doing (``"reading the upload"``), for errors that are not the
        core's own.

    Examples
    --------
    >>> from grainseg_core.errors import InputError
    >>> error_message(InputError("threshold must be in [0, 1]; got 2."))
    'threshold must be in [0, 1]; got 2.'
    >>> error_message(KeyError("x"), "drawing the overlay").split(". ")[0]
    'Something went wrong while drawing the overlay (KeyError)'
    """
    if isinstance(exc, GrainsegError):
        return str(exc)
    during = f" while {what}" if what else ""
    return (
        f"Something went wrong{during} ({type(exc).__name__}). Your earlier results are kept; "
        "try again or change the input. The details are in the server log."
    )


def logged_message(exc: BaseException, what: str | None = None) -> str:
    """:func:`error_message` of ``exc``, logged: a bug with its traceback, a user error briefly.

    For widget callbacks: they run before the script, so they keep the message in the
    session and the page shows it where it belongs (as :func:`user_errors` would).

    Must be called while ``exc`` is being handled (inside the ``except`` block), so that
    the traceback of a bug reaches the log.
    """
    during = f" while {what}" if what else ""
    if isinstance(exc, GrainsegError):
        _LOG.info("user error%s: %s", during, exc)
    else:
        _LOG.exception("unexpected error%s", during)
    return error_message(exc, what)


@contextmanager
def user_errors(what: str | None = None, *, container=None) -> Iterator[ErrorOutcome]:
    """Turn exceptions of the block into an ``st.error`` message; the app keeps running.

    Parameters
    ----------
    what : str, optional
        What the block does, in words ("segmenting the image"); used in the message of
        unexpected errors and in the log.
    container : streamlit container, optional
        Where to show the message (default: where the block is); e.g. ``st.sidebar``.

    Yields
    ------
    ErrorOutcome
        ``outcome.failed`` tells the caller whether to fall back to earlier results.
    """
    outcome = ErrorOutcome()
    target = container if container is not None else st
    try:
        yield outcome
    except Exception as exc:  # noqa: BLE001 - a bug must not take the session down either
        outcome.error, outcome.message = exc, logged_message(exc, what)
        target.error(outcome.message)
