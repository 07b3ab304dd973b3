"""The ``train`` and ``cv`` sub-commands of ``grainseg``.

:func:`add_subcommands` is called by :func:`grainseg_core.cli.build_parser`; each
sub-parser sets ``handler``, a function ``(args) -> int``.
"""

from __future__ import annotations

import argparse

from grainseg_core.errors import TrainingError

__all__ = ["add_subcommands"]


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``cv`` sub-commands to ``subparsers``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    train = subparsers.add_parser("train", help="Train a boundary model from a config file.")
    train.add_argument("--config", required=False, help="TrainConfig JSON file.")
    train.add_argument("--out", default="runs", help="Folder that holds run folders.")
    train.add_argument("--resume", default=None, metavar="RUN_DIR", help="Resume this run.")
    train.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    train.add_argument("--run-id", default=None, help="Run folder name (default: generated).")
    train.set_defaults(handler=_not_ready)
    cv = subparsers.add_parser("cv", help="K-fold cross-validation, one run per fold.")
    cv.add_argument("--config", required=True, help="TrainConfig JSON file.")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--out", default="runs", help="Folder that holds run folders.")
    cv.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"])
    cv.set_defaults(handler=_not_ready)


def _not_ready(args: argparse.Namespace) -> int:
    raise TrainingError("training is not available yet in this build.")
