"""The ``grainseg`` command-line interface.

Sub-commands are added by the stages that own them; every :class:`GrainsegError`
is printed as one plain line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from grainseg_core import __version__
from grainseg_core.errors import GrainsegError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="grainseg",
        description="Grain-boundary segmentation and grain statistics for micrographs.",
    )
    parser.add_argument("--version", action="version", version=f"grainseg {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except GrainsegError as exc:
        print(f"grainseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grainseg: interrupted", file=sys.stderr)
        return 130
